"""Where images come from: a ``docker save`` tarball, an OCI image layout (folder or tar), a registry.

A source resolves the manifests to scan (one platform, or all) and opens blob streams; the caller
verifies every blob's digest while it streams (see ``scan.py``). Manifests, indexes and configs are
small JSON documents read in full, within ``Limits.max_json_bytes``, and verified here.
"""

from __future__ import annotations

import json
import os
import posixpath
import tarfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from scanning.engine.errors import ScanError
from scanning.engine.limits import DEFAULT_LIMITS, Limits
from scanning.engine.model import Platform
from scanning.engine.streams import check_digest, read_capped, sha256_digest

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
CONFIG_TYPES = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
LAYER_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)
DOCKER_ARCHIVE_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DEFAULT_PLATFORM = Platform("linux", "amd64")


@dataclass(frozen=True)
class BlobRef:
    digest: str | None  # expected sha256 of the bytes as stored; None when the format records none
    media_type: str
    size: int | None
    location: str  # path inside the archive or folder, or the digest for a registry


@dataclass(frozen=True)
class ImageManifest:
    """One image to scan: its config (already verified and parsed) and its layer blobs, bottom first."""

    manifest_digest: str | None
    config_digest: str
    config: Mapping[str, Any]
    platform: Platform
    layers: tuple[BlobRef, ...]
    repo_tags: tuple[str, ...] = ()


class ImageSource(ABC):
    """Yields the manifests to scan and opens blob streams (raw, as stored)."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits

    @abstractmethod
    def manifests(self, platform: Platform | None = None, all_platforms: bool = False) -> list[ImageManifest]:
        """The images to scan: the one for ``platform`` (default linux/amd64), or all of them."""

    @abstractmethod
    def open_blob(self, ref: BlobRef) -> BinaryIO:
        """A stream of the blob's stored bytes; the caller closes it and verifies the digest."""

    def close(self) -> None:  # noqa: B027 - most sources hold nothing open
        """Release files or connections."""

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ScanError(f"{what} is not valid JSON: {exc}") from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScanError(f"{what} is not a JSON object")
    return value


def platform_of(doc: Mapping[str, Any] | None) -> Platform | None:
    if not isinstance(doc, Mapping):
        return None
    os_name, arch = doc.get("os"), doc.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str):
        return None
    variant = doc.get("variant")
    return Platform(os_name, arch, variant if isinstance(variant, str) and variant else None)


def _descriptor(value: Any, what: str) -> tuple[str, str, int | None]:
    desc = _object(value, what)
    digest = check_digest(desc.get("digest", ""))
    media_type = desc.get("mediaType")
    if not isinstance(media_type, str):
        raise ScanError(f"{what} has no media type")
    size = desc.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ScanError(f"{what} has an invalid size")
    return digest, media_type, size


class _Archive(ABC):
    """Named files, either in a folder or in a tar (plain or compressed)."""

    @abstractmethod
    def names(self) -> set[str]: ...

    @abstractmethod
    def open(self, name: str) -> BinaryIO: ...

    def read(self, name: str, limit: int) -> bytes:
        with self.open(name) as stream:
            return read_capped(stream, limit, name)

    def close(self) -> None:  # noqa: B027
        pass


class _FolderArchive(_Archive):
    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def names(self) -> set[str]:
        return {n for n in ("manifest.json", "index.json", "oci-layout") if (self._root / n).is_file()}

    def open(self, name: str) -> BinaryIO:
        clean = posixpath.normpath(name)
        if clean.startswith(("/", "..")):
            raise ScanError(f"{name!r} points outside the image folder")
        path = (self._root / clean).resolve()
        if self._root not in path.parents or not path.is_file():
            raise ScanError(f"{name} is missing from the image folder")
        return path.open("rb")


class _TarArchive(_Archive):
    def __init__(self, path: Path, max_entries: int) -> None:
        try:
            self._tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed in close()
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise ScanError(f"{path.name} is not a readable tar archive: {exc}") from None
        # tarfile keeps a TarInfo per member: an archive of millions of tiny members is refused
        # before it can fill the memory (an image archive holds a few files per layer).
        members: list[tarfile.TarInfo] = []
        try:
            while (member := self._tar.next()) is not None:
                members.append(member)
                if len(members) > max_entries:
                    self._tar.close()
                    raise ScanError(f"{path.name} holds more than {max_entries} files: not an image archive")
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            self._tar.close()
            raise ScanError(f"{path.name} is not a readable tar archive: {exc}") from None
        self._members: dict[str, tarfile.TarInfo] = {}
        for member in members:
            name = posixpath.normpath(member.name.lstrip("/"))
            if not name.startswith(".."):
                self._members[name] = member

    def names(self) -> set[str]:
        return set(self._members)

    def open(self, name: str) -> BinaryIO:
        member = self._members.get(posixpath.normpath(name))
        hops = 0
        while member is not None and member.issym():
            hops += 1
            target = posixpath.normpath(posixpath.join(posixpath.dirname(member.name), member.linkname))
            member = self._members.get(target) if hops < 40 else None
        if member is not None and member.islnk():
            member = self._members.get(posixpath.normpath(member.linkname))
        if member is None or not member.isreg():
            raise ScanError(f"{name} is missing from the image archive")
        try:
            stream = self._tar.extractfile(member)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ScanError(f"{name} cannot be read from the archive: {exc}") from None
        if stream is None:
            raise ScanError(f"{name} is missing from the image archive")
        return stream  # type: ignore[return-value]

    def close(self) -> None:
        self._tar.close()


class LocalImageSource(ImageSource):
    """A ``docker save`` tarball or an OCI image layout, as a folder or a tar (possibly compressed)."""

    def __init__(self, path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits)
        location = Path(path)
        if location.is_dir():
            self._archive: _Archive = _FolderArchive(location)
        elif location.is_file():
            self._archive = _TarArchive(location, limits.max_archive_entries)
        else:
            raise ScanError(f"{location} does not exist")
        names = self._archive.names()
        if "index.json" in names:
            self.kind = "oci-layout"
        elif "manifest.json" in names:
            self.kind = "docker-archive"
        else:
            self._archive.close()
            raise ScanError(f"{location.name} is neither a docker save archive nor an OCI image layout")

    def close(self) -> None:
        self._archive.close()

    def _json(self, name: str) -> tuple[Any, bytes]:
        data = self._archive.read(name, self.limits.max_json_bytes)
        return parse_json(data, name), data

    def open_blob(self, ref: BlobRef) -> BinaryIO:
        return self._archive.open(ref.location)

    # -- resolution -----------------------------------------------------------------------------
    def manifests(self, platform: Platform | None = None, all_platforms: bool = False) -> list[ImageManifest]:
        if self.kind == "oci-layout":
            index, _ = self._json("index.json")
            found = resolve_index(
                _object(index, "index.json"), self._blob_json, self._blob_json, self.limits, depth=0
            )
        else:
            found = self._docker_manifests()
        return select_platform(found, platform, all_platforms)

    def _blob_json(self, digest: str, what: str) -> tuple[Any, bytes]:
        check_digest(digest)
        data = self._archive.read("blobs/sha256/" + digest.split(":", 1)[1], self.limits.max_json_bytes)
        if sha256_digest(data) != digest:
            raise ScanError(
                f"{what}: digest mismatch, expected {digest} but the content hashes to {sha256_digest(data)}"
            )
        return parse_json(data, what), data

    def _docker_manifests(self) -> list[tuple[ImageManifest, bool]]:
        doc, _ = self._json("manifest.json")
        if not isinstance(doc, list) or not doc:
            raise ScanError("manifest.json does not list any image")
        if len(doc) > self.limits.max_manifests:
            raise ScanError(f"manifest.json lists more than {self.limits.max_manifests} images")
        found = []
        for i, raw_entry in enumerate(doc):
            entry = _object(raw_entry, f"manifest.json entry {i}")
            config_name = entry.get("Config")
            layers = entry.get("Layers")
            if not isinstance(config_name, str) or not isinstance(layers, list):
                raise ScanError(f"manifest.json entry {i} has no Config or Layers")
            if len(layers) > self.limits.max_layers:
                raise ScanError(
                    f"the image has {len(layers)} layers, more than the limit of {self.limits.max_layers}"
                )
            config_data = self._archive.read(config_name, self.limits.max_json_bytes)
            config_digest = sha256_digest(config_data)
            named = _digest_from_blob_name(config_name)
            if named is not None and named != config_digest:
                raise ScanError(f"{config_name}: digest mismatch, the content hashes to {config_digest}")
            config = _object(parse_json(config_data, config_name), config_name)
            refs = []
            for layer_name in layers:
                if not isinstance(layer_name, str):
                    raise ScanError(f"manifest.json entry {i} has a layer that is not a path")
                refs.append(
                    BlobRef(_digest_from_blob_name(layer_name), DOCKER_ARCHIVE_LAYER, None, layer_name)
                )
            tags = entry.get("RepoTags") or []
            manifest = ImageManifest(
                manifest_digest=None,
                config_digest=config_digest,
                config=config,
                platform=platform_of(config) or DEFAULT_PLATFORM,
                layers=tuple(refs),
                repo_tags=tuple(t for t in tags if isinstance(t, str)),
            )
            found.append((manifest, True))
        return found


def _digest_from_blob_name(name: str) -> str | None:
    """``blobs/sha256/<hex>`` (Docker 25+ archives) names its digest; legacy ``<id>/layer.tar`` does not."""
    parts = posixpath.normpath(name).split("/")
    if len(parts) >= 2 and parts[-2] == "sha256" and len(parts[-1]) == 64:
        try:
            return check_digest("sha256:" + parts[-1])
        except ScanError:
            return None
    base = parts[-1]
    if base.endswith(".json") and len(base) == 69:
        try:
            return check_digest("sha256:" + base[:-5])
        except ScanError:
            return None
    return None


BlobJson = Any  # Callable[[str, str], tuple[Any, bytes]]


def resolve_index(
    index: dict[str, Any],
    fetch: BlobJson,
    fetch_config: BlobJson,
    limits: Limits,
    depth: int,
    platform_hint: Platform | None = None,
) -> list[tuple[ImageManifest, bool]]:
    """Walk an OCI index (or Docker manifest list) down to image manifests.

    Returns (manifest, platform_was_declared) pairs; attestation manifests are skipped.
    """
    if depth > 4:
        raise ScanError("image indexes are nested too deeply")
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise ScanError("the image index has no manifests list")
    if len(entries) > limits.max_manifests:
        raise ScanError(f"the image index lists more than {limits.max_manifests} manifests")
    found: list[tuple[ImageManifest, bool]] = []
    for i, raw in enumerate(entries):
        digest, media_type, _ = _descriptor(raw, f"index entry {i}")
        annotations = raw.get("annotations") or {}
        if (
            isinstance(annotations, dict)
            and annotations.get("vnd.docker.reference.type") == "attestation-manifest"
        ):
            continue
        declared = platform_of(raw.get("platform"))
        if declared is not None and declared.os == "unknown":
            continue
        doc, _ = fetch(digest, f"manifest {digest}")
        doc = _object(doc, f"manifest {digest}")
        kind = media_type if media_type in INDEX_TYPES | MANIFEST_TYPES else doc.get("mediaType", "")
        if kind in INDEX_TYPES or (not kind and "manifests" in doc):
            found.extend(resolve_index(doc, fetch, fetch_config, limits, depth + 1, declared))
        elif kind in MANIFEST_TYPES or (not kind and "layers" in doc):
            manifest = image_manifest(doc, digest, fetch_config, limits, declared or platform_hint)
            found.append((manifest, declared is not None))
        else:
            raise ScanError(f"manifest {digest} has the unsupported media type {kind!r}")
    return found


def image_manifest(
    doc: dict[str, Any], digest: str | None, fetch: BlobJson, limits: Limits, declared: Platform | None
) -> ImageManifest:
    config_digest, config_type, _ = _descriptor(doc.get("config"), "the manifest's config")
    if config_type not in CONFIG_TYPES:
        raise ScanError(
            f"the manifest's config has the unsupported media type {config_type!r}: not a container image"
        )
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ScanError("the manifest has no layers list")
    if len(layers) > limits.max_layers:
        raise ScanError(f"the image has {len(layers)} layers, more than the limit of {limits.max_layers}")
    refs = []
    for i, raw in enumerate(layers):
        layer_digest, layer_type, size = _descriptor(raw, f"layer {i}")
        if layer_type not in LAYER_TYPES:
            raise ScanError(f"layer {i} has the unsupported media type {layer_type!r}")
        refs.append(BlobRef(layer_digest, layer_type, size, "blobs/sha256/" + layer_digest.split(":", 1)[1]))
    config, _ = fetch(config_digest, f"config {config_digest}")
    config = _object(config, f"config {config_digest}")
    return ImageManifest(
        manifest_digest=digest,
        config_digest=config_digest,
        config=config,
        platform=platform_of(config) or declared or DEFAULT_PLATFORM,
        layers=tuple(refs),
    )


def select_platform(
    found: list[tuple[ImageManifest, bool]], platform: Platform | None, all_platforms: bool
) -> list[ImageManifest]:
    if not found:
        raise ScanError("the source holds no image")
    if all_platforms:
        return [m for m, _ in found]
    wanted = platform or DEFAULT_PLATFORM
    matching = [m for m, _ in found if wanted.matches(m.platform)]
    if matching:
        return matching[:1]
    if len(found) == 1 and platform is None:
        # A single-image source is scanned whatever its platform unless one was asked for.
        return [found[0][0]]
    offered = ", ".join(sorted({str(m.platform) for m, _ in found}))
    raise ScanError(f"no image for platform {wanted} (the source offers {offered})")


def open_source(reference: str, limits: Limits = DEFAULT_LIMITS, **registry_options: Any) -> ImageSource:
    """A local path (tarball or OCI layout) or, failing that, a registry reference."""
    if os.path.exists(reference):
        return LocalImageSource(reference, limits)
    from scanning.engine.registry import RegistrySource

    return RegistrySource(reference, limits=limits, **registry_options)
