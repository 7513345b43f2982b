"""Kalshi request signing (and its verification, for the simulator).

Kalshi signs ``timestamp_ms + METHOD + path`` where ``path`` includes
``/trade-api/v2`` and excludes the query string; the body is not signed. RSA keys
sign with RSA-PSS / SHA-256 / MGF1(SHA-256) and a salt as long as the digest
(32 bytes); Ed25519 keys sign the same text. The signature is base64.

A private key is loaded from a PEM file or from PEM text (e.g. an environment
variable's content). :class:`Signer` never shows the key in ``repr`` or logs.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


class KeyLoadError(ValueError):
    """A key could not be loaded (the message never contains key material)."""


def signed_text(timestamp_ms: int | str, method: str, path: str) -> bytes:
    """The exact bytes Kalshi signs. ``path`` may be a full URL; its query string is dropped."""
    path = urlsplit(path).path if "://" in path or "?" in path else path
    return f"{timestamp_ms}{method.upper()}{path}".encode()


def load_private_key(pem: str | bytes) -> PrivateKey:
    """Load an RSA or Ed25519 private key from PEM text."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"not a usable unencrypted PEM private key ({type(exc).__name__})") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise KeyLoadError(f"unsupported key type {type(key).__name__}: Kalshi keys are RSA or Ed25519")
    return key


def load_public_key(pem: str | bytes) -> PublicKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise KeyLoadError(f"not a usable PEM public key ({type(exc).__name__})") from None
    if not isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise KeyLoadError(f"unsupported key type {type(key).__name__}: Kalshi keys are RSA or Ed25519")
    return key


def sign(key: PrivateKey, message: bytes) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        raw = key.sign(message, _PSS, hashes.SHA256())
    else:
        raw = key.sign(message)
    return base64.b64encode(raw).decode()


def verify(key: PublicKey, message: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid signature of ``message`` by ``key``."""
    try:
        raw = base64.b64decode(signature_b64, validate=True)
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(raw, message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
        else:
            key.verify(raw, message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


class Signer:
    """Produces Kalshi's three auth headers for one API key.

    >>> signer = Signer.from_pem_file("key-id", "private.pem")  # doctest: +SKIP
    >>> signer.headers("GET", "/trade-api/v2/portfolio/balance")  # doctest: +SKIP
    """

    __slots__ = ("key_id", "_key")

    def __init__(self, key_id: str, private_key: PrivateKey) -> None:
        if not key_id:
            raise KeyLoadError("an API key id is required")
        self.key_id = key_id
        self._key = private_key

    @classmethod
    def from_pem(cls, key_id: str, pem: str | bytes) -> "Signer":
        return cls(key_id, load_private_key(pem))

    @classmethod
    def from_pem_file(cls, key_id: str, path: str | os.PathLike[str]) -> "Signer":
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise KeyLoadError(f"cannot read private key file {os.fspath(path)!r}: {exc.strerror}") from None
        return cls.from_pem(key_id, pem)

    def headers(self, method: str, path: str, timestamp_ms: int | None = None) -> dict[str, str]:
        ts = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
        return {
            HEADER_KEY: self.key_id,
            HEADER_TIMESTAMP: ts,
            HEADER_SIGNATURE: sign(self._key, signed_text(ts, method, path)),
        }

    def __repr__(self) -> str:  # never show key material
        return f"Signer(key_id={self.key_id!r}, key=<{type(self._key).__name__} hidden>)"


def generate_rsa_keypair(bits: int = 2048) -> tuple[str, str]:
    """A new RSA key pair as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return _pems(key)


def generate_ed25519_keypair() -> tuple[str, str]:
    return _pems(ed25519.Ed25519PrivateKey.generate())


def _pems(key: PrivateKey) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


def new_key_id() -> str:
    """A key id shaped like Kalshi's (a UUID)."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))
