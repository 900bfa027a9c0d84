"""Token format: exactly what registry 2.8 accepts (see the shared recipe)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from registry import tokens
from registry.tokens import Access


@pytest.fixture
def keys(settings, tmp_path: Path) -> Path:
    settings.REGISTRY_TOKEN_KEY_FILE = str(tmp_path / "k" / "token.key")
    settings.REGISTRY_TOKEN_CERT_FILE = str(tmp_path / "k" / "token.crt")
    settings.REGISTRY_ISSUER = "store-test"
    settings.REGISTRY_SERVICE = "registry-test"
    tokens.create_key_and_certificate(key_file=tokens.key_path(), cert_file=tokens.cert_path())
    return tmp_path / "k"


def test_kid_is_the_libtrust_id_of_the_certificate_key(keys: Path) -> None:
    kid = tokens.signing_key().kid
    groups = kid.split(":")
    assert len(groups) == 12
    assert all(len(g) == 4 for g in groups)
    if shutil.which("openssl"):  # the recipe's pipeline, from the certificate in the bundle
        pub = subprocess.run(
            ["openssl", "x509", "-in", str(keys / "token.crt"), "-pubkey", "-noout"],
            capture_output=True,
            check=True,
        ).stdout
        der = subprocess.run(
            ["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, capture_output=True, check=True
        ).stdout
    else:
        der = (
            tokens.signing_key()
            .private_key.public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    expected = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    assert kid.replace(":", "") == expected


def test_claims_have_the_types_registry_2_8_insists_on(keys: Path) -> None:
    issued = tokens.issue(subject="buyer@example.com", access=[Access("repository", "acme/db", ("pull",))])
    header = jwt.get_unverified_header(issued.token)
    assert header == {"alg": "ES256", "kid": tokens.signing_key().kid, "typ": "JWT"}
    public = tokens.signing_key().private_key.public_key()
    claims = jwt.decode(
        issued.token, public, algorithms=["ES256"], audience="registry-test", issuer="store-test"
    )
    assert isinstance(claims["aud"], str)
    assert all(isinstance(claims[name], int) for name in ("exp", "nbf", "iat"))
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"]
    assert claims["sub"] == "buyer@example.com"
    assert claims["access"] == [{"type": "repository", "name": "acme/db", "actions": ["pull"]}]
    body = issued.response()
    assert body["token"] == body["access_token"] == issued.token
    assert body["expires_in"] == 300
    assert body["issued_at"].endswith("Z")


def test_an_existing_key_is_kept_and_a_missing_certificate_made_for_it(keys: Path) -> None:
    kid = tokens.signing_key().kid
    (keys / "token.crt").unlink()
    assert tokens.create_key_and_certificate(key_file=tokens.key_path(), cert_file=tokens.cert_path()) == (
        False,
        True,
    )
    assert tokens.signing_key().kid == kid
    assert (keys / "token.key").stat().st_mode & 0o077 == 0, "the private key is readable by its owner only"
