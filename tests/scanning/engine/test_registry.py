"""Pulling over the Registry HTTP API v2 from a small registry served in a thread."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scanning.engine.errors import ScanError
from scanning.engine.registry import RegistrySource, parse_reference
from scanning.engine.scan import scan_source
from tests.scanning.engine.images import alpine_image, oci_files

TOKEN = "let-me-in"


def serve(files: dict[str, bytes], *, fail_with: int | None = None, stall_blobs: bool = False):
    index = json.loads(files["index.json"])
    manifest_digest = index["manifests"][0]["digest"]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/token"):
                assert "scope=repository%3Aacme%2Fapp%3Apull" in self.path
                return self._send(200, json.dumps({"token": TOKEN}).encode())
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                host = f"http://127.0.0.1:{self.server.server_address[1]}"
                self.send_response(401)
                self.send_header("WWW-Authenticate", f'Bearer realm="{host}/token",service="test"')
                self.end_headers()
                return None
            if fail_with:
                return self._send(fail_with, b"boom")
            if self.path == "/v2/acme/app/manifests/1.0":
                return self._send(
                    200, files["index.json"].replace(b'"schemaVersion": 2, ', b'"schemaVersion": 2, ')
                )
            kind, _, digest = self.path.rpartition("/")
            blob = files.get("blobs/sha256/" + digest.removeprefix("sha256:"))
            if blob is None:
                return self._send(404, b"")
            if stall_blobs and kind.endswith("blobs") and blob[:2] == b"\x1f\x8b":
                # a layer: announce it whole, send a little, then hang until the client gives up
                self.send_response(200)
                self.send_header("Content-Length", str(len(blob)))
                self.end_headers()
                self.wfile.write(blob[:64])
                self.wfile.flush()
                self.rfile.read()  # returns when the client closes the connection
                return None
            return self._send(200, blob, digest if kind.endswith("manifests") else None)

        def _send(self, status, body, digest=None):
            self.send_response(status)
            if digest:
                self.send_header("Docker-Content-Digest", digest)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, manifest_digest


@pytest.fixture
def registry():
    server, digest = serve(oci_files([alpine_image()]))
    yield f"127.0.0.1:{server.server_address[1]}", digest
    server.shutdown()
    server.server_close()


def test_pull_follows_the_bearer_challenge(registry):
    host, digest = registry
    with RegistrySource(f"{host}/acme/app:1.0", scheme="http", timeout=5) as source:
        [inventory] = scan_source(source)
    assert {c.name for c in inventory.components} == {"musl", "musl-utils", "libcrypto1.1"}
    assert inventory.image.manifest_digest == digest


def test_a_registry_error_ends_the_scan_with_its_status():
    server, _ = serve(oci_files([alpine_image()]), fail_with=500)
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        with (
            RegistrySource(f"{host}/acme/app:1.0", scheme="http", timeout=5) as source,
            pytest.raises(ScanError, match="answered 500"),
        ):
            source.manifests()
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_registry():
    with (
        RegistrySource("127.0.0.1:9/acme/app:1.0", scheme="http", timeout=2) as source,
        pytest.raises(ScanError, match="could not be reached"),
    ):
        source.manifests()


def test_references():
    assert parse_reference("alpine") == ("registry-1.docker.io", "library/alpine", "latest")
    assert parse_reference("ghcr.io/acme/app:1.2") == ("ghcr.io", "acme/app", "1.2")
    assert parse_reference("localhost:5000/app@sha256:" + "a" * 64) == (
        "localhost:5000",
        "app",
        "sha256:" + "a" * 64,
    )
    with pytest.raises(ScanError):
        parse_reference("UPPER/Case")


def test_a_registry_that_hangs_times_out_with_a_clear_reason(silent_registry):
    started = time.monotonic()
    with (
        RegistrySource(f"{silent_registry}/acme/app:1.0", scheme="http", timeout=0.5) as source,
        pytest.raises(ScanError, match=r"did not answer within 0\.5 s"),
    ):
        scan_source(source)
    assert time.monotonic() - started < 5


def test_a_blob_that_stops_midway_times_out_with_a_clear_reason():
    """Headers and part of a layer arrive, then nothing: the read times out as a ScanError."""
    files = oci_files([alpine_image()])
    server, _ = serve(files, stall_blobs=True)
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        started = time.monotonic()
        with (
            RegistrySource(f"{host}/acme/app:1.0", scheme="http", timeout=0.5) as source,
            pytest.raises(ScanError, match=r"did not answer within 0\.5 s|connection failed"),
        ):
            scan_source(source)
        assert time.monotonic() - started < 5
    finally:
        server.shutdown()
        server.server_close()
