"""The observation: its documented schema and THE builder shared by training and the live actor."""

from .builder import MarketInput, ObservationBuilder
from .schema import FEATURE_NAMES, FEATURES, OBS_SIZE, SCHEMA_HASH, SCHEMA_VERSION, Feature, describe, schema_hash

__all__ = [
    "FEATURE_NAMES",
    "FEATURES",
    "OBS_SIZE",
    "SCHEMA_HASH",
    "SCHEMA_VERSION",
    "Feature",
    "MarketInput",
    "ObservationBuilder",
    "describe",
    "schema_hash",
]
