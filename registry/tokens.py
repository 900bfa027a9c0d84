"""Bearer tokens for the Docker Registry (distribution 2.8), signed ES256 with the libtrust key id.

The registry checks them offline against the certificate bundle in its config, so every detail
below is what 2.8 insists on: ``aud`` a string, integer times, ``kid`` the libtrust id of a key
whose certificate is in the bundle. ``registry_config`` creates the key and certificate.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

TOKEN_LIFETIME = 300  # seconds; the registry never asks again, so this bounds a revocation's delay
ALGORITHM = "ES256"


@dataclass(frozen=True)
class Access:
    """One entry of the ``access`` claim: ``repository:acme/db`` with the actions granted."""

    type: str
    name: str
    actions: tuple[str, ...] = field(default_factory=tuple)

    def claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: datetime

    def response(self) -> dict[str, Any]:
        """The token endpoint's JSON body; ``token`` and ``access_token`` for old and new clients."""
        return {
            "token": self.token,
            "access_token": self.token,
            "expires_in": self.expires_in,
            "issued_at": self.issued_at.isoformat().replace("+00:00", "Z"),
        }


def issuer() -> str:
    return str(getattr(settings, "REGISTRY_ISSUER", "container-store"))


def service() -> str:
    return str(getattr(settings, "REGISTRY_SERVICE", "container-store-registry"))


def _data_dir() -> Path:
    return Path(getattr(settings, "DATA_DIR", Path.cwd() / "data"))


def key_path() -> Path:
    value = getattr(settings, "REGISTRY_TOKEN_KEY_FILE", "") or _data_dir() / "registry" / "token-signing.key"
    return Path(value)


def cert_path() -> Path:
    value = (
        getattr(settings, "REGISTRY_TOKEN_CERT_FILE", "") or _data_dir() / "registry" / "token-signing.crt"
    )
    return Path(value)


def libtrust_kid(public_key: ec.EllipticCurvePublicKey) -> str:
    """The libtrust key id: SHA-256 of the DER SubjectPublicKeyInfo, 30 bytes, base32, 12 groups of 4."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@dataclass(frozen=True)
class SigningKey:
    private_key: ec.EllipticCurvePrivateKey
    kid: str

    @cached_property
    def header_segment(self) -> bytes:
        """The JWS header, encoded once per key: as PyJWT writes it (sorted keys, compact)."""
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}
        return _b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims`` (RFC 7515/7518 ES256: the signature is r || s, 32 bytes
        each), what ``jwt.encode(claims, key, "ES256", headers={"kid": kid})`` gives, without
        PyJWT's per-call key preparation and header assembly (a third of the signing time)."""
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = self.header_segment + b"." + payload
        r, s = decode_dss_signature(self.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return (signing_input + b"." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))).decode()


@lru_cache(maxsize=4)
def _load_key(path: str, mtime_ns: int) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"The registry token key {path} cannot be read ({exc}); run `manage.py registry_config`."
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ImproperlyConfigured(f"The registry token key {path} must be an EC P-256 key (ES256).")
    return SigningKey(private_key=key, kid=libtrust_kid(key.public_key()))


def signing_key() -> SigningKey:
    """The key from REGISTRY_TOKEN_KEY_FILE, read once per file version (a rotated file is reread)."""
    path = key_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise ImproperlyConfigured(
            f"The registry token key {path} does not exist; run `manage.py registry_config`."
        ) from exc
    return _load_key(str(path), mtime)


def issue(*, subject: str, access: list[Access], lifetime: int = TOKEN_LIFETIME) -> IssuedToken:
    """A signed token for ``subject`` (an email, the service account, or "" when anonymous)."""
    key = signing_key()
    now = int(time.time())
    claims = {
        "iss": issuer(),
        "sub": subject,
        "aud": service(),  # a string: 2.8 rejects a list
        "exp": now + lifetime,
        "nbf": now - 5,  # a little slack for clocks; the registry adds 60 s of its own
        "iat": now,
        "jti": secrets.token_urlsafe(16),
        "access": [entry.claim() for entry in access],
    }
    token = key.sign(claims)
    return IssuedToken(token=token, expires_in=lifetime, issued_at=datetime.fromtimestamp(now, tz=UTC))


def create_key_and_certificate(*, key_file: Path, cert_file: Path) -> tuple[bool, bool]:
    """Create the P-256 signing key and its self-signed certificate where missing.

    Returns (key created, certificate created). An existing key is kept and a missing certificate
    is made for it, so tokens already issued stay valid.
    """
    key_created = cert_created = False
    if key_file.exists():
        loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ImproperlyConfigured(f"{key_file} is not an EC key; ES256 needs a P-256 key.")
        key = loaded
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        key_file.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key_file.touch(mode=0o600)
        key_file.write_bytes(pem)
        key_created = True
    if key_created or not cert_file.exists():
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{issuer()} token signer")])
        now = datetime.now(tz=UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        cert_file.parent.mkdir(parents=True, exist_ok=True)
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        cert_created = True
    return key_created, cert_created
