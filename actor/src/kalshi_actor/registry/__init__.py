"""The model registry: trained models with their metadata, checksums and a ``latest`` pointer."""

from .registry import (
    ModelCorrupted,
    ModelExists,
    ModelIncompatible,
    ModelLoadError,
    ModelMetadata,
    ModelNotFound,
    ModelRecord,
    Registry,
    RegistryError,
    config_hash,
    default_root,
    new_model_id,
)

__all__ = [
    "ModelCorrupted",
    "ModelExists",
    "ModelIncompatible",
    "ModelLoadError",
    "ModelMetadata",
    "ModelNotFound",
    "ModelRecord",
    "Registry",
    "RegistryError",
    "config_hash",
    "default_root",
    "new_model_id",
]
