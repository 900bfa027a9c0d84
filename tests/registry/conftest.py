"""Registry fixtures: a real ``docker-registry`` pointed at the live test server, skopeo as the
client, OCI images written by hand, and the listings, memberships and licences the rules read.

Billing (licences) and scanning (scan requests) are colleagues' apps. When their modules exist
the tests use them; until then ``licences`` and ``scan_requests`` stand in with the documented
signatures, so the rules and events are tested against the same interface.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from accounts.models import AccessToken, Scope, User, hash_token
from listings.models import AccessPolicy, Product, ProductStatus, Revision, RevisionState, Tier
from publishers.models import Publisher

SERVICE_SECRET = "service-secret-for-tests-only"
EVENTS_SECRET = "events-secret-for-tests-only"


def tool_missing() -> str:
    missing = [tool for tool in ("docker-registry", "skopeo") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not installed (make test-tools installs them)" if missing else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# Tokens, listings and licences


def registry_token(user: User, scopes: list[str] | None = None) -> str:
    """A personal access token (with the ``registry`` scope unless told otherwise)."""
    raw = AccessToken.generate()
    AccessToken.objects.create(
        user=user,
        name=f"docker {raw[-6:]}",
        token_hash=hash_token(raw),
        prefix=raw[:12],
        scopes=[Scope.REGISTRY] if scopes is None else scopes,
    )
    return raw


def make_tier(
    publisher: Publisher,
    *,
    slug: str,
    policy: str = AccessPolicy.LICENCE_HOLDERS,
    price: str = "49.00",
    status: str = ProductStatus.PUBLISHED,
    state: str = RevisionState.APPROVED,
    staging: str = "",
    repository: str = "",
) -> Tier:
    """A product with one revision and one tier; live when ``state`` is approved."""
    product = Product.objects.create(publisher=publisher, slug=slug, name=slug, status=status)
    revision = Revision.objects.create(
        product=product,
        number=1,
        name=slug,
        state=state,
        access_policy=policy,
        distribution="free" if Decimal(price) == 0 else "paid",
    )
    if state == RevisionState.APPROVED:
        product.live_revision = revision
        product.save(update_fields=["live_revision"])
    ns = publisher.namespace
    return Tier.objects.create(
        revision=revision,
        name="Standard",
        price=Decimal(price),
        staging_source=staging or f"{ns}/{slug}-staging:1.0",
        repository=repository or f"{ns}/{slug}",
    )


class FakeBilling:
    """Stands in for billing.selectors.may_pull until billing lands: the same rules, in memory."""

    def __init__(self) -> None:
        self.holders: set[tuple[int, str]] = set()

    def may_pull(self, *, user: Any, tier: Tier) -> bool:
        product = tier.revision.product
        if product.status not in (ProductStatus.PUBLISHED, ProductStatus.ON_HOLD):
            return False
        policy = tier.revision.access_policy
        if policy == AccessPolicy.EVERYONE:
            return True
        if not getattr(user, "is_authenticated", False):
            return False
        if policy == AccessPolicy.LOGGED_IN:
            return True
        return (user.pk, str(tier.key)) in self.holders


@dataclass
class Licences:
    grant: Callable[[User, Tier], Any]
    cancel: Callable[[User, Tier], Any]
    real: bool


def _real_billing() -> types.ModuleType | None:
    """billing.selectors once billing has landed: importable, with its licence table migrated."""
    try:
        module = importlib.import_module("billing.selectors")
        from billing.models import Licence
    except ImportError:
        return None
    if Licence._meta.db_table not in connection.introspection.table_names():
        return None
    return module


@pytest.fixture
def licences(monkeypatch: pytest.MonkeyPatch) -> Licences:
    """Grant and cancel licences: billing's own services when they exist, else the stand-in."""
    if _real_billing() is not None:
        from tests.registry import billing_glue

        return Licences(grant=billing_glue.grant, cancel=billing_glue.cancel, real=True)
    fake = FakeBilling()
    try:
        monkeypatch.setattr(importlib.import_module("billing.selectors"), "may_pull", fake.may_pull)
    except ImportError:
        module = types.ModuleType("billing.selectors")
        module.may_pull = fake.may_pull  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "billing.selectors", module)
    return Licences(
        grant=lambda user, tier: fake.holders.add((user.pk, str(tier.key))),
        cancel=lambda user, tier: fake.holders.discard((user.pk, str(tier.key))),
        real=False,
    )


@dataclass
class ScanRequests:
    calls: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def scan_requests(monkeypatch: pytest.MonkeyPatch) -> ScanRequests:
    """Records scan_request calls (scanning's own function is replaced; its tests cover it)."""
    recorded = ScanRequests()

    def scan_request(
        *,
        reference: str,
        tier: Any = None,
        revision: Any = None,
        requested_by: Any = None,
        source: str = "registry",
    ) -> dict[str, Any]:
        call = {
            "reference": reference,
            "tier": tier,
            "revision": revision,
            "requested_by": requested_by,
            "source": source,
        }
        recorded.calls.append(call)
        return call

    try:
        module = importlib.import_module("scanning.services")
        monkeypatch.setattr(module, "scan_request", scan_request)
    except ImportError:
        fake = types.ModuleType("scanning.services")
        fake.scan_request = scan_request  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "scanning.services", fake)
    return recorded


# ---------------------------------------------------------------------------------------------
# OCI images written by hand


@dataclass(frozen=True)
class OciImage:
    path: Path
    tag: str
    manifest_digest: str


def _blob(root: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def make_oci_image(root: Path, *, tag: str = "1.0", content: str = "hello") -> OciImage:
    """A one-layer OCI image layout: oci-layout, index.json and blobs (layer, config, manifest)."""
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w") as tar:
        data = content.encode()
        info = tarfile.TarInfo("etc/release")
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        tar.addfile(info, io.BytesIO(data))
    raw_layer = tar_buffer.getvalue()
    layer = gzip.compress(raw_layer, mtime=0)
    layer_digest, layer_size = _blob(root, layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(raw_layer).hexdigest()}"]},
        }
    ).encode()
    config_digest, config_size = _blob(root, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest,
                    "size": layer_size,
                }
            ],
        }
    ).encode()
    manifest_digest, manifest_size = _blob(root, manifest)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return OciImage(path=root, tag=tag, manifest_digest=manifest_digest)


# ---------------------------------------------------------------------------------------------
# The registry process and skopeo


@dataclass
class Registry:
    host: str
    url: str
    config_dir: Path
    work: Path
    process: subprocess.Popen[bytes]
    settings: dict[str, Any]
    debug_url: str

    def pending_events(self) -> int:
        """Events the registry has queued but not yet delivered (its debug server's counters)."""
        try:
            data = requests.get(self.debug_url, timeout=2).json()
        except (requests.RequestException, ValueError):
            return 0
        endpoints = data.get("registry", {}).get("notifications", {}).get("endpoints", [])
        return sum(int(endpoint.get("Metrics", {}).get("Pending", 0)) for endpoint in endpoints)

    def wait_for_delivery(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.pending_events() and time.monotonic() < deadline:
            time.sleep(0.05)

    def skopeo(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "REGISTRY_AUTH_FILE": str(self.work / "auth.json"), "HOME": str(self.work)}
        return subprocess.run(
            ["skopeo", "--insecure-policy", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )

    def push(self, image: OciImage, reference: str, creds: str | None) -> subprocess.CompletedProcess[str]:
        auth = ["--dest-creds", creds] if creds else ["--dest-no-creds"]
        return self.skopeo(
            "copy",
            "--dest-tls-verify=false",
            *auth,
            f"oci:{image.path}:{image.tag}",
            f"docker://{self.host}/{reference}",
        )

    def pull(self, reference: str, creds: str | None, dest: Path) -> subprocess.CompletedProcess[str]:
        auth = ["--src-creds", creds] if creds else ["--src-no-creds"]
        return self.skopeo(
            "copy", "--src-tls-verify=false", *auth, f"docker://{self.host}/{reference}", f"oci:{dest}:pulled"
        )

    def log(self) -> str:
        return (self.work / "registry.log").read_text(errors="replace")[-4000:]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def registry_server(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """``docker-registry serve`` on a free loopback port, configured by ``registry_config``.

    One process for the session; the store's registry settings are applied per test by the
    ``registry`` fixture, so they never leak into tests of other apps in the same process.
    """
    reason = tool_missing()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("registry")
    port, debug_port = free_port(), free_port()
    settings = {
        "REGISTRY_URL": f"http://127.0.0.1:{port}",
        "REGISTRY_PUBLIC_HOST": f"127.0.0.1:{port}",
        "REGISTRY_TOKEN_KEY_FILE": str(work / "keys" / "token-signing.key"),
        "REGISTRY_TOKEN_CERT_FILE": str(work / "keys" / "token-signing.crt"),
        "REGISTRY_EVENTS_SECRET": EVENTS_SECRET,
        "REGISTRY_SERVICE_PASSWORD": SERVICE_SECRET,
        "REGISTRY_TOKEN_RATE": 100_000,
    }
    config_dir = work / "config"
    with override_settings(**settings):
        call_command(
            "registry_config",
            output=str(config_dir),
            site_url=live_server.url,
            debug_addr=f"127.0.0.1:{debug_port}",
            stdout=io.StringIO(),
        )
    log = (work / "registry.log").open("wb")
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config_dir / "config.yml")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(work / 'registry.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/v2/", timeout=1).status_code == 401:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("docker-registry did not answer /v2/ within 15 s")
            time.sleep(0.02)
        yield Registry(
            host=f"127.0.0.1:{port}",
            url=url,
            config_dir=config_dir,
            work=work,
            process=process,
            settings=settings,
            debug_url=f"http://127.0.0.1:{debug_port}/debug/vars",
        )
    finally:
        _stop(process)
        log.close()


@pytest.fixture
def registry(registry_server: Registry) -> Iterator[Registry]:
    """The session's registry, with the store's registry settings for this test only.

    The registry delivers its events asynchronously; the test ends only once nothing is pending,
    so no late event is written while the next test empties the database.
    """
    with override_settings(**registry_server.settings):
        yield registry_server
        registry_server.wait_for_delivery()


def wait_for(predicate: Callable[[], Any], *, timeout: float = 10, what: str = "the condition") -> Any:
    """Poll ``predicate`` until it is truthy: the registry delivers events asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
