"""Images pulled over the Registry HTTP API v2, following the Bearer token challenge.

Credentials are passed in; nothing is cached or written. Every manifest and blob is verified
against its digest by the same code paths as local sources.
"""

from __future__ import annotations

import re
from typing import Any

import requests
import urllib3.exceptions

from scanning.engine.errors import ScanError
from scanning.engine.limits import DEFAULT_LIMITS, Limits
from scanning.engine.model import Platform
from scanning.engine.sources import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    BlobRef,
    ImageManifest,
    ImageSource,
    image_manifest,
    parse_json,
    resolve_index,
    select_platform,
)
from scanning.engine.streams import CHUNK, check_digest, sha256_digest

ACCEPT = ", ".join(sorted(INDEX_TYPES | MANIFEST_TYPES))
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
DOCKER_HUB = "registry-1.docker.io"


def parse_reference(reference: str) -> tuple[str, str, str]:
    """``ghcr.io/acme/app:1.2`` -> (registry, repository, tag or digest), Docker Hub conventions included."""
    name, digest = reference, ""
    if "@" in reference:
        name, digest = reference.split("@", 1)
        check_digest(digest)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = DOCKER_HUB, name
    tag = ""
    if ":" in path.rsplit("/", 1)[-1]:
        path, tag = path.rsplit(":", 1)
    if registry in (DOCKER_HUB, "docker.io", "index.docker.io"):
        registry = DOCKER_HUB
        if "/" not in path:
            path = "library/" + path
    if not path or not re.fullmatch(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*", path):
        raise ScanError(f"{reference!r} is not a valid image reference")
    return registry, path, digest or tag or "latest"


class _BlobStream:
    """A registry response body read in chunks; network failures become ScanErrors.

    ``raw`` is urllib3's response: its errors (a read that times out, a connection cut mid-body) are
    urllib3's own, not requests', and must not escape the engine as anything but a ScanError.
    """

    def __init__(self, response: requests.Response, what: str, registry: str, timeout: float) -> None:
        self._response = response
        self._what = what
        self._registry = registry
        self._timeout = timeout

    def read(self, size: int = -1) -> bytes:
        try:
            return self._response.raw.read(CHUNK if size is None or size < 0 else size)
        except (urllib3.exceptions.TimeoutError, TimeoutError) as exc:
            raise ScanError(
                f"{self._what}: the registry {self._registry} did not answer within {self._timeout:g} s"
            ) from exc
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise ScanError(f"{self._what}: the registry connection failed: {exc}") from exc

    def close(self) -> None:
        self._response.close()


class RegistrySource(ImageSource):
    def __init__(
        self,
        reference: str,
        *,
        limits: Limits = DEFAULT_LIMITS,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        scheme: str = "https",
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(limits)
        self.registry, self.repository, self.reference = parse_reference(reference)
        self._base = f"{scheme}://{self.registry}/v2/{self.repository}"
        self._auth = (username, password) if username is not None and password is not None else None
        self._timeout = timeout
        self._session = session or requests.Session()
        self._token: str | None = None

    def close(self) -> None:
        self._session.close()

    # -- HTTP ---------------------------------------------------------------------------------
    def _get(self, url: str, *, accept: str | None = None, stream: bool = False) -> requests.Response:
        for attempt in range(2):
            headers = {"Accept": accept} if accept else {}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            try:
                response = self._session.get(
                    url,
                    headers=headers,
                    stream=stream,
                    timeout=self._timeout,
                    auth=self._auth if not self._token else None,
                )
            except requests.Timeout:
                raise ScanError(
                    f"the registry {self.registry} did not answer within {self._timeout:g} s"
                ) from None
            except requests.RequestException as exc:
                raise ScanError(f"the registry {self.registry} could not be reached: {exc}") from None
            if response.status_code == 401 and attempt == 0:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                if challenge.lower().startswith("bearer "):
                    self._token = self._fetch_token(challenge)
                    continue
                raise ScanError(f"the registry {self.registry} refused the credentials (401)")
            if response.status_code != 200:
                response.close()
                if response.status_code in (401, 403):
                    raise ScanError(f"the registry {self.registry} refused access to {self.repository}")
                if response.status_code == 404:
                    raise ScanError(
                        f"{self.repository}: {url.rsplit('/', 1)[-1]} not found on {self.registry}"
                    )
                raise ScanError(f"the registry {self.registry} answered {response.status_code}")
            return response
        raise ScanError(f"the registry {self.registry} refused the token it issued")

    def _fetch_token(self, challenge: str) -> str:
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.pop("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise ScanError(f"the registry {self.registry} sent an unusable auth challenge")
        params.setdefault("scope", f"repository:{self.repository}:pull")
        try:
            response = self._session.get(realm, params=params, auth=self._auth, timeout=self._timeout)
        except requests.RequestException as exc:
            raise ScanError(f"the token service of {self.registry} could not be reached: {exc}") from None
        if response.status_code != 200:
            raise ScanError(f"the token service of {self.registry} answered {response.status_code}")
        doc = parse_json(response.content[: self.limits.max_json_bytes + 1], "the token response")
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise ScanError(f"the token service of {self.registry} returned no token")
        return token

    def _read_small(self, response: requests.Response, what: str) -> bytes:
        chunks, total = [], 0
        try:
            for chunk in response.iter_content(CHUNK):
                total += len(chunk)
                if total > self.limits.max_json_bytes:
                    raise ScanError(f"{what} is larger than the limit of {self.limits.max_json_bytes} bytes")
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise ScanError(f"{what}: the registry connection failed: {exc}") from None
        finally:
            response.close()
        return b"".join(chunks)

    # -- ImageSource ----------------------------------------------------------------------------
    def _manifest(self, reference: str, what: str) -> tuple[Any, bytes, str]:
        response = self._get(f"{self._base}/manifests/{reference}", accept=ACCEPT, stream=True)
        header_digest = response.headers.get("Docker-Content-Digest")
        data = self._read_small(response, what)
        digest = sha256_digest(data)
        expected = reference if reference.startswith("sha256:") else header_digest
        if expected and expected.startswith("sha256:") and expected != digest:
            raise ScanError(
                f"{what}: digest mismatch, expected {expected} but the content hashes to {digest}"
            )
        return parse_json(data, what), data, digest

    def _manifest_by_digest(self, digest: str, what: str) -> tuple[Any, bytes]:
        doc, data, _ = self._manifest(digest, what)
        return doc, data

    def _blob_json(self, digest: str, what: str) -> tuple[Any, bytes]:
        check_digest(digest)
        data = self._read_small(self._get(f"{self._base}/blobs/{digest}", stream=True), what)
        if sha256_digest(data) != digest:
            raise ScanError(
                f"{what}: digest mismatch, expected {digest} but the content hashes to {sha256_digest(data)}"
            )
        return parse_json(data, what), data

    def manifests(self, platform: Platform | None = None, all_platforms: bool = False) -> list[ImageManifest]:
        doc, _, digest = self._manifest(self.reference, f"manifest {self.repository}:{self.reference}")
        if not isinstance(doc, dict):
            raise ScanError("the registry's manifest is not a JSON object")
        kind = doc.get("mediaType", "")
        if kind in INDEX_TYPES or "manifests" in doc:
            found = resolve_index(doc, self._manifest_by_digest, self._blob_json, self.limits, depth=0)
        elif kind in MANIFEST_TYPES or "layers" in doc:
            found = [(image_manifest(doc, digest, self._blob_json, self.limits, None), False)]
        else:
            raise ScanError(f"the registry's manifest has the unsupported media type {kind!r}")
        return select_platform(found, platform, all_platforms)

    def open_blob(self, ref: BlobRef) -> Any:
        digest = ref.digest or ref.location
        check_digest(digest)
        response = self._get(f"{self._base}/blobs/{digest}", stream=True)
        return _BlobStream(response, f"blob {digest}", self.registry, self._timeout)
