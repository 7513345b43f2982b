"""Request signing against an independent implementation written here from Kalshi's documentation.

Kalshi signs ``timestamp_ms + METHOD + path`` (path with ``/trade-api/v2``, without the query
string) with RSA-PSS / SHA-256 / MGF1(SHA-256) / 32-byte salt, or with Ed25519, base64-encoded.
The reference below uses ``cryptography`` directly and shares no code with ``kalshi.auth``.
"""

from __future__ import annotations

import base64
import logging

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from kalshi_actor.kalshi.auth import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    KeyLoadError,
    Signer,
    generate_ed25519_keypair,
    generate_rsa_keypair,
    load_public_key,
    signed_text,
    verify,
)
from kalshi_actor.sim.auth import MAX_CLOCK_SKEW_MS, AuthError, KeyRing

TS = 1703123456789
PATH = "/trade-api/v2/portfolio/orders"


# --- the reference implementation (from the protocol page, not from our module) ---

def reference_sign(private_pem: str, timestamp_ms: int, method: str, path: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    message = f"{timestamp_ms}{method}{path.split('?')[0]}".encode()
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        raw = key.sign(message, pss, hashes.SHA256())
    else:
        raw = key.sign(message)
    return base64.b64encode(raw).decode()


def reference_verify(public_pem: str, timestamp_ms: int | str, method: str, path: str, signature: str) -> bool:
    key = serialization.load_pem_public_key(public_pem.encode())
    message = f"{timestamp_ms}{method}{path.split('?')[0]}".encode()
    raw = base64.b64decode(signature)
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(raw, message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
        else:
            key.verify(raw, message)
    except InvalidSignature:
        return False
    return True


@pytest.fixture(scope="module", params=["rsa", "ed25519"])
def keypair(request: pytest.FixtureRequest) -> tuple[str, str]:
    return generate_rsa_keypair() if request.param == "rsa" else generate_ed25519_keypair()


def test_signed_text_is_timestamp_method_path() -> None:
    assert signed_text(TS, "GET", PATH) == b"1703123456789GET/trade-api/v2/portfolio/orders"
    assert signed_text(str(TS), "delete", PATH) == b"1703123456789DELETE/trade-api/v2/portfolio/orders"


def test_query_string_is_not_signed() -> None:
    assert signed_text(TS, "GET", PATH + "?limit=5&cursor=abc") == signed_text(TS, "GET", PATH)
    full_url = "https://external-api.kalshi.com/trade-api/v2/portfolio/orders?ticker=X"
    assert signed_text(TS, "GET", full_url) == signed_text(TS, "GET", PATH)


def test_our_signature_verifies_with_the_reference(keypair: tuple[str, str]) -> None:
    private_pem, public_pem = keypair
    headers = Signer.from_pem("key-1", private_pem).headers("POST", PATH, timestamp_ms=TS)
    assert headers[HEADER_KEY] == "key-1"
    assert headers[HEADER_TIMESTAMP] == str(TS)
    assert reference_verify(public_pem, TS, "POST", PATH, headers[HEADER_SIGNATURE])
    # and it is bound to what was signed
    assert not reference_verify(public_pem, TS + 1, "POST", PATH, headers[HEADER_SIGNATURE])
    assert not reference_verify(public_pem, TS, "GET", PATH, headers[HEADER_SIGNATURE])
    assert not reference_verify(public_pem, TS, "POST", PATH + "/x", headers[HEADER_SIGNATURE])


def test_reference_signature_verifies_with_ours(keypair: tuple[str, str]) -> None:
    private_pem, public_pem = keypair
    signature = reference_sign(private_pem, TS, "GET", PATH)
    public_key = load_public_key(public_pem)
    assert verify(public_key, signed_text(TS, "GET", PATH), signature)
    assert not verify(public_key, signed_text(TS, "GET", "/trade-api/v2/portfolio/balance"), signature)


def test_signature_over_a_url_with_query_matches_the_bare_path(keypair: tuple[str, str]) -> None:
    private_pem, public_pem = keypair
    headers = Signer.from_pem("k", private_pem).headers("GET", PATH + "?status=resting", timestamp_ms=TS)
    assert reference_verify(public_pem, TS, "GET", PATH, headers[HEADER_SIGNATURE])


def test_keyring_accepts_reference_signed_headers_and_rejects_the_rest(keypair: tuple[str, str]) -> None:
    private_pem, public_pem = keypair
    ring = KeyRing({"k": load_public_key(public_pem)})
    good = {HEADER_KEY: "k", HEADER_TIMESTAMP: str(TS), HEADER_SIGNATURE: reference_sign(private_pem, TS, "GET", PATH)}
    assert ring.authenticate("GET", PATH, good, now_ms=TS) == "k"

    cases = {
        "missing": {HEADER_KEY: "k", HEADER_TIMESTAMP: str(TS)},
        "unknown key": {**good, HEADER_KEY: "other"},
        "stale": good,
        "bad signature": {**good, HEADER_SIGNATURE: reference_sign(private_pem, TS, "GET", PATH + "x")},
        "not base64": {**good, HEADER_SIGNATURE: "%%%"},
    }
    for name, headers in cases.items():
        now = TS + MAX_CLOCK_SKEW_MS + 1 if name == "stale" else TS
        with pytest.raises(AuthError):
            ring.authenticate("GET", PATH, headers, now_ms=now)


def test_private_key_never_shows_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    private_pem, _ = generate_rsa_keypair()
    signer = Signer.from_pem("key-id-1", private_pem)
    body = "".join(private_pem.splitlines()[1:-1])  # the base64 of the key, without PEM armour
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("kalshi_actor").debug("signer %r %s", signer, signer)
    assert "key-id-1" in repr(signer)
    for text in (repr(signer), str(signer), caplog.text):
        assert body[:40] not in text
        assert "PRIVATE KEY" not in text


def test_bad_key_material_is_rejected_without_echoing_it() -> None:
    secret = "-----BEGIN PRIVATE KEY-----\nTk9UQUtFWQ==SECRETSECRET\n-----END PRIVATE KEY-----\n"
    with pytest.raises(KeyLoadError) as info:
        Signer.from_pem("k", secret)
    assert "SECRETSECRET" not in str(info.value)
    with pytest.raises(KeyLoadError):
        Signer.from_pem("", generate_ed25519_keypair()[0])


def test_ed25519_signatures_are_deterministic_and_rsa_pss_ones_are_salted() -> None:
    ed_private, _ = generate_ed25519_keypair()
    rsa_private, _ = generate_rsa_keypair()
    ed = Signer.from_pem("k", ed_private)
    assert ed.headers("GET", PATH, TS) == ed.headers("GET", PATH, TS)
    assert ed.headers("GET", PATH, TS)[HEADER_SIGNATURE] == reference_sign(ed_private, TS, "GET", PATH)
    rsa_signer = Signer.from_pem("k", rsa_private)
    assert rsa_signer.headers("GET", PATH, TS) != rsa_signer.headers("GET", PATH, TS)  # random salt


def test_ed25519_public_key_type_is_loaded() -> None:
    _, public_pem = generate_ed25519_keypair()
    assert isinstance(load_public_key(public_pem), ed25519.Ed25519PublicKey)
