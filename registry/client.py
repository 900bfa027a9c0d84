"""The store's only client of the registry's HTTP API (v2), acting as its service identity.

It signs its own tokens (it is the token service), so no request goes to /registry/token.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests
from django.conf import settings

from registry import tokens
from registry.tokens import Access

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
# Manifests are small; anything bigger is not a manifest the store published.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
CHUNK = 1024 * 1024


class RegistryError(Exception):
    """The registry refused or failed; the message says what and where, fit for a moderator."""


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: bytes

    def document(self) -> dict[str, Any]:
        doc = json.loads(self.body)
        if not isinstance(doc, dict):
            raise RegistryError(f"the manifest {self.digest} is not a JSON object")
        return doc

    def blob_digests(self) -> list[str]:
        doc = self.document()
        blobs = [doc.get("config") or {}, *(doc.get("layers") or [])]
        return [b["digest"] for b in blobs if isinstance(b, dict) and isinstance(b.get("digest"), str)]

    def child_digests(self) -> list[str]:
        return [
            m["digest"]
            for m in self.document().get("manifests") or []
            if isinstance(m, dict) and isinstance(m.get("digest"), str)
        ]


def registry_url() -> str:
    return str(getattr(settings, "REGISTRY_URL", "http://127.0.0.1:5000")).rstrip("/")


def service_account() -> str:
    return str(getattr(settings, "REGISTRY_SERVICE_USERNAME", "") or "store-service")


class RegistryClient:
    def __init__(self, base_url: str | None = None, *, timeout: float = 30.0) -> None:
        self.base_url = (base_url or registry_url()).rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP ---------------------------------------------------------------------------------
    def _authorize(self, *, pull: list[str], push: list[str]) -> None:
        access = [Access("repository", name, ("pull", "push")) for name in push]
        access += [Access("repository", name, ("pull",)) for name in pull if name not in push]
        token = tokens.issue(subject=service_account(), access=access)
        self.session.headers["Authorization"] = f"Bearer {token.token}"

    def _request(
        self, method: str, path_or_url: str, *, expect: tuple[int, ...], **kwargs: Any
    ) -> requests.Response:
        url = path_or_url if "://" in path_or_url else f"{self.base_url}{path_or_url}"
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise RegistryError(
                f"the registry at {self.base_url} did not answer within {self.timeout:g} s"
            ) from None
        except requests.RequestException as exc:
            raise RegistryError(f"the registry at {self.base_url} could not be reached ({exc})") from None
        if response.status_code not in expect:
            detail = _error_detail(response)
            response.close()
            raise RegistryError(
                f"{method} {url.removeprefix(self.base_url)} answered {response.status_code}{detail}"
            )
        return response

    # -- operations -----------------------------------------------------------------------------
    def get_manifest(self, repository: str, reference: str) -> Manifest:
        accept = ", ".join(sorted(INDEX_TYPES | MANIFEST_TYPES))
        try:
            response = self._request(
                "GET", f"/v2/{repository}/manifests/{reference}", expect=(200,), headers={"Accept": accept}
            )
        except RegistryError as exc:
            if " answered 404" in str(exc):
                raise RegistryError(
                    f"{repository}:{reference} is not in the registry; push it first"
                ) from None
            raise
        body = response.content
        if len(body) > MAX_MANIFEST_BYTES:
            raise RegistryError(f"the manifest of {repository}:{reference} is larger than a manifest can be")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        announced = response.headers.get("Docker-Content-Digest", digest)
        if announced != digest:
            raise RegistryError(
                f"the manifest of {repository}:{reference} does not match its digest {announced}"
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if media_type not in INDEX_TYPES | MANIFEST_TYPES:
            raise RegistryError(f"{repository}:{reference} has an unsupported manifest type “{media_type}”")
        return Manifest(digest=digest, media_type=media_type, body=body)

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self._request("HEAD", f"/v2/{repository}/blobs/{digest}", expect=(200, 404))
        response.close()
        return response.status_code == 200

    def copy_blob(self, *, source: str, destination: str, digest: str) -> str:
        """Mount ``digest`` from ``source`` into ``destination``; pull and push it if mounting fails.

        Returns how: "present", "mounted" or "uploaded".
        """
        if self.blob_exists(destination, digest):
            return "present"
        response = self._request(
            "POST",
            f"/v2/{destination}/blobs/uploads/",
            params={"mount": digest, "from": source},
            expect=(201, 202),
        )
        response.close()
        if response.status_code == 201:
            return "mounted"
        # 202: the registry could not mount and opened an upload instead; finish it with the bytes.
        location = urljoin(f"{self.base_url}/", response.headers.get("Location", ""))
        blob = self._request("GET", f"/v2/{source}/blobs/{digest}", expect=(200,), stream=True)
        try:
            put = self._request(
                "PUT",
                location,
                params={"digest": digest},
                data=_chunks(blob),
                headers={"Content-Type": "application/octet-stream"},
                expect=(201,),
            )
        finally:
            blob.close()
        put.close()
        return "uploaded"

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> None:
        response = self._request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            data=manifest.body,
            headers={"Content-Type": manifest.media_type},
            expect=(201,),
        )
        response.close()

    def copy_image(self, *, source: str, reference: str, destination: str) -> Manifest:
        """Copy ``source:reference`` (blobs, platform manifests, the manifest) into ``destination``
        by digest. No tag changes, so nothing customers pull moves until ``put_manifest`` by tag."""
        self._authorize(pull=[source], push=[destination])
        top = self.get_manifest(source, reference)
        for manifest in self._manifests(source, top):
            for digest in manifest.blob_digests():
                self.copy_blob(source=source, destination=destination, digest=digest)
            self.put_manifest(destination, manifest.digest, manifest)
        return top

    def tag(self, *, repository: str, tag: str, manifest: Manifest) -> None:
        self._authorize(pull=[], push=[repository])
        self.put_manifest(repository, tag, manifest)

    def _manifests(self, repository: str, top: Manifest) -> list[Manifest]:
        """The platform manifests of an index, then the top one: children must exist before it."""
        if top.media_type not in INDEX_TYPES:
            return [top]
        return [*(self.get_manifest(repository, digest) for digest in top.child_digests()), top]


def _chunks(response: requests.Response) -> Iterator[bytes]:
    yield from response.iter_content(CHUNK)


def _error_detail(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        messages = [
            f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors if isinstance(e, dict)
        ]
    except (ValueError, AttributeError):
        return ""
    return f" ({'; '.join(messages)})" if messages else ""
