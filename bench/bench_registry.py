"""The registry integration's hot paths, against baselines from the same run.

1. Token endpoint under gunicorn (the deployment's WSGI server; a few gthread workers on
   loopback): tokens per second and p95 for an editor asking for pull,push on a staging repository
   (the `docker push` request: throttle, Basic auth, access-token lookup, rules, ES256 signing), and
   for a pull of a customer-facing repository (the `docker pull` request, which also asks billing's
   ``may_pull``; the product's policy is "everyone", so no licence row is read), against a trivial JSON view served by the same gunicorn in the same run.
   Rounds alternate trivial and token so a load change on the machine hits both; the ratio is
   taken from the medians. Target: at least half the trivial view's throughput.
2. Events ingested per second (target >= 2,000/s, which is ingestion throughput: rows recorded per
   second when events arrive in bulk, as the issue's "answers fast (bulk insert)" says). Measured
   three ways: over HTTP in batches of BATCH_EVENTS per POST, over HTTP one event per POST (what
   registry 2.8 sends; bounded by the request rate of the server, not by ingestion, and reported
   against the trivial view), and in-process in batches (no HTTP). Over HTTP the events are pulls of
   a staging repository (a RegistryEvent row each, deleted afterwards); in-process they are
   downloads (a RegistryEvent and an audit row each) inside a rolled-back transaction, because the
   audit log refuses deletes.

Data lives in ``store_bench`` and is removed afterwards (the download path is rolled back).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench import database

CLIENTS = 4
REQUESTS_PER_CLIENT = 150  # per client and round: 600 requests a round
ROUNDS = 3
WORKERS = 2
THREADS = 4
EVENT_POSTS = 600
BATCH_EVENTS = 100
BATCHES = 20
SECRET = "bench-events-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_site(folder: Path) -> None:
    (folder / "bench_registry_settings.py").write_text(
        textwrap.dedent(
            f"""
            from store.settings_test import *  # noqa: F403
            ROOT_URLCONF = "bench_registry_urls"
            REGISTRY_TOKEN_KEY_FILE = {str(folder / "token.key")!r}
            REGISTRY_TOKEN_CERT_FILE = {str(folder / "token.crt")!r}
            REGISTRY_EVENTS_SECRET = {SECRET!r}
            REGISTRY_TOKEN_RATE = 10**9
            LOGGING = {{"version": 1, "disable_existing_loggers": False}}
            """
        )
    )
    (folder / "bench_registry_urls.py").write_text(
        textwrap.dedent(
            """
            from django.http import JsonResponse
            from django.urls import include, path

            def trivial(request):
                return JsonResponse({"ok": True})

            urlpatterns = [path("bench/trivial", trivial), path("", include("store.urls"))]
            """
        )
    )


def _start(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench_registry_settings",
        "PYTHONPATH": os.pathsep.join([str(folder), str(Path(__file__).resolve().parent.parent)]),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "store.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--threads",
            str(THREADS),  # gthread: keep-alive connections, as behind a proxy
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "gunicorn.log").open("wb"),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/bench/trivial", timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("gunicorn did not start within 30 s")


def _load(url: str, *, auth: tuple[str, str] | None = None) -> dict[str, float]:  # bounded: 600
    """CLIENTS threads, each with its own keep-alive session, REQUESTS_PER_CLIENT requests each."""

    def client(_: int) -> list[float]:
        session = requests.Session()
        timings = []
        for _ in range(REQUESTS_PER_CLIENT):
            started = time.perf_counter()
            response = session.get(url, auth=auth, timeout=10)
            timings.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")
        return timings

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        timings = [t for chunk in pool.map(client, range(CLIENTS)) for t in chunk]
    elapsed = time.perf_counter() - started
    return {
        "per_s": round(len(timings) / elapsed),
        "p95_ms": round(statistics.quantiles(timings, n=20)[18] * 1000, 2),
    }


def _event(repository: str, actor: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "timestamp": "2026-11-29T15:27:42.528005819Z",
        "action": "pull",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + "a" * 64,
            "repository": repository,
            "tag": "1.0",
        },
        "request": {"method": "GET"},
        "actor": {"name": actor},
    }


def _post_events(
    url: str, repository: str, actor: str, *, per_post: int = 1, posts: int = EVENT_POSTS
) -> float:
    """Events per second POSTed by CLIENTS threads, ``per_post`` events in each body."""

    def client(count: int) -> None:
        session = requests.Session()
        headers = {
            "Authorization": f"Bearer {SECRET}",
            "Content-Type": "application/vnd.docker.distribution.events.v1+json",
        }
        for _ in range(count):
            body = json.dumps({"events": [_event(repository, actor) for _ in range(per_post)]})
            response = session.post(url, data=body, headers=headers, timeout=10)
            if response.status_code != 200:
                raise RuntimeError(f"events answered {response.status_code}: {response.text[:200]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, [posts // CLIENTS] * CLIENTS))
    return (posts // CLIENTS * CLIENTS * per_post) / (time.perf_counter() - started)


def _ingest_in_process(repository: str, actor: str) -> float:
    from django.db import transaction

    from registry import services

    class Rollback(Exception):
        pass

    bodies = [
        json.dumps({"events": [_event(repository, actor) for _ in range(BATCH_EVENTS)]}).encode()
        for _ in range(BATCHES)
    ]
    started = time.perf_counter()
    try:
        with transaction.atomic():
            for body in bodies:
                result = services.events_ingest(notices=services.parse_events(body))
                assert result.downloads == BATCH_EVENTS, result
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    return BATCH_EVENTS * BATCHES / elapsed


def run() -> list[dict[str, Any]]:
    database.setup()
    from decimal import Decimal

    from django.test import override_settings

    from accounts.models import AccessToken, Scope, User, hash_token
    from listings.models import AccessPolicy, Product, ProductStatus, Revision, RevisionState, Tier
    from publishers.models import Membership, Publisher, Role
    from registry import tokens
    from registry.models import RegistryEvent

    folder = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    _write_site(folder)
    with override_settings(
        REGISTRY_TOKEN_KEY_FILE=str(folder / "token.key"), REGISTRY_TOKEN_CERT_FILE=str(folder / "token.crt")
    ):
        tokens.create_key_and_certificate(key_file=tokens.key_path(), cert_file=tokens.cert_path())
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    publisher = Publisher.objects.create(
        namespace=namespace,
        legal_name="Bench",
        website="https://example.com",
        phone="+14155550100",
        company_email="bench@example.com",
        logo="bench.png",
    )
    user = User.objects.create_user(f"editor@{namespace}.example.com", password=None)
    Membership.objects.create(publisher=publisher, user=user, role=Role.EDITOR)
    raw = AccessToken.generate()
    AccessToken.objects.create(
        user=user, name="bench", token_hash=hash_token(raw), prefix=raw[:12], scopes=[Scope.REGISTRY]
    )
    product = Product.objects.create(
        publisher=publisher, slug="db", name="db", status=ProductStatus.PUBLISHED
    )
    revision = Revision.objects.create(
        product=product, number=1, state=RevisionState.APPROVED, access_policy=AccessPolicy.EVERYONE
    )
    product.live_revision = revision
    product.save(update_fields=["live_revision"])
    Tier.objects.create(
        revision=revision,
        name="Free",
        price=Decimal(0),
        staging_source=f"{namespace}/db-staging:1",
        repository=f"{namespace}/db",
    )

    port = _free_port()
    server = _start(folder, port)
    base = f"http://127.0.0.1:{port}"
    rows: list[dict[str, Any]] = []
    try:
        auth = (user.email, raw)
        asks = {
            "token endpoint, push to staging (gunicorn)": f"{base}/registry/token?service={tokens.service()}"
            f"&scope=repository:{namespace}/db-staging:pull,push",
            "token endpoint, pull of a live repository (gunicorn)": f"{base}/registry/token"
            f"?service={tokens.service()}&scope=repository:{namespace}/db:pull",
        }
        trivial_url = f"{base}/bench/trivial"
        _load(trivial_url)  # warm every worker and thread
        for url in asks.values():
            _load(url, auth=auth)
        results: dict[str, list[dict[str, float]]] = {"trivial": [], **{name: [] for name in asks}}
        for _ in range(ROUNDS):
            results["trivial"].append(_load(trivial_url))
            for name, url in asks.items():
                results[name].append(_load(url, auth=auth))

        def median(name: str, key: str) -> float:
            return float(statistics.median(r[key] for r in results[name]))

        trivial_rate = median("trivial", "per_s")
        rows.append(
            {
                "measure": f"trivial JSON view (gunicorn {WORKERS}x{THREADS} gthread)",
                "per_s": round(trivial_rate),
                "p95_ms": median("trivial", "p95_ms"),
                "rounds": [r["per_s"] for r in results["trivial"]],
            }
        )
        for name in asks:
            rows.append(
                {
                    "measure": name,
                    "per_s": round(median(name, "per_s")),
                    "p95_ms": median(name, "p95_ms"),
                    "rounds": [r["per_s"] for r in results[name]],
                    "ratio": round(median(name, "per_s") / trivial_rate, 2),
                    "target": ">= 0.5",
                }
            )
        events_url = f"{base}/registry/events"
        batch_rate = _post_events(
            events_url, f"{namespace}/db-staging", user.email, per_post=BATCH_EVENTS, posts=BATCHES * 2
        )
        rows.append(
            {
                "measure": f"events over HTTP, {BATCH_EVENTS} per POST (gunicorn)",
                "per_s": round(batch_rate),
                "target": ">= 2000",
            }
        )
        single_rate = _post_events(events_url, f"{namespace}/db-staging", user.email)
        rows.append(
            {
                "measure": "events over HTTP, 1 per POST as registry 2.8 sends (gunicorn)",
                "per_s": round(single_rate),
                "ratio": round(single_rate / trivial_rate, 2),
            }
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        RegistryEvent.objects.filter(repository__startswith=f"{namespace}/").delete()
    rows.append(
        {
            "measure": f"download events ingested in-process, batches of {BATCH_EVENTS}",
            "per_s": round(_ingest_in_process(f"{namespace}/db", user.email)),
            "target": ">= 2000",
        }
    )
    AccessToken.objects.filter(user=user).delete()
    Membership.objects.filter(publisher=publisher).delete()
    Tier.objects.filter(revision=revision).delete()
    Product.objects.filter(live_revision=revision).update(live_revision=None)
    Revision.objects.filter(pk=revision.pk).delete()
    Product.objects.filter(pk=product.pk).delete()
    Publisher.objects.filter(pk=publisher.pk).delete()
    User.objects.filter(pk=user.pk).delete()
    return rows


if __name__ == "__main__":
    for row in run():
        print("  ".join(f"{k}={v}" for k, v in row.items()))
