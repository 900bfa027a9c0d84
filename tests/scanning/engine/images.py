"""Small images built in memory for the engine's tests: layer tars, docker save archives, OCI layouts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Entry:
    name: str
    data: bytes = b""
    kind: str = "file"  # file, dir, symlink, hardlink
    target: str = ""


def layer_tar(entries: list[Entry | tuple[str, bytes | str]]) -> bytes:
    """An uncompressed layer tar; tuples are (name, content) for regular files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for raw in entries:
            entry = (
                raw
                if isinstance(raw, Entry)
                else Entry(raw[0], raw[1].encode() if isinstance(raw[1], str) else raw[1])
            )
            info = tarfile.TarInfo(entry.name)
            info.mode = 0o644
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif entry.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = entry.target
                tar.addfile(info)
            elif entry.kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = entry.target
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return buffer.getvalue()


def compress(tar: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(tar, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(tar)
    return tar


@dataclass
class Image:
    layers: list[bytes]  # uncompressed tars
    compression: str = "gzip"
    os: str = "linux"
    architecture: str = "amd64"
    history: list[dict] = field(default_factory=list)

    def config(self) -> bytes:
        history = self.history or [{"created_by": f"step {i}"} for i in range(len(self.layers))]
        return json.dumps(
            {
                "architecture": self.architecture,
                "os": self.os,
                "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in self.layers]},
                "history": history,
            }
        ).encode()

    def blobs(self) -> list[bytes]:
        return [compress(t, self.compression) for t in self.layers]

    def media_type(self) -> str:
        return {"gzip": LAYER_GZIP, "zstd": LAYER_ZSTD}.get(self.compression, LAYER_TAR)

    def manifest(self) -> bytes:
        config = self.config()
        return json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
                "layers": [
                    {"mediaType": self.media_type(), "digest": sha(b), "size": len(b)} for b in self.blobs()
                ],
            }
        ).encode()


def oci_files(images: list[Image], *, platforms: bool = True) -> dict[str, bytes]:
    """The files of an OCI image layout holding ``images`` (a multi-platform index when several)."""
    files: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}
    descriptors = []
    for image in images:
        for blob in [image.config(), *image.blobs(), image.manifest()]:
            files["blobs/sha256/" + sha(blob).split(":")[1]] = blob
        manifest = image.manifest()
        descriptor: dict = {"mediaType": OCI_MANIFEST, "digest": sha(manifest), "size": len(manifest)}
        if platforms:
            descriptor["platform"] = {"os": image.os, "architecture": image.architecture}
        descriptors.append(descriptor)
    files["index.json"] = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    ).encode()
    return files


def docker_archive_files(image: Image, tags: tuple[str, ...] = ("example/app:1",)) -> dict[str, bytes]:
    """A legacy ``docker save`` layout: <id>/layer.tar files and manifest.json (layers uncompressed)."""
    config = image.config()
    files = {sha(config).split(":")[1] + ".json": config}
    names = []
    for i, tar in enumerate(image.layers):
        name = f"{i:064x}/layer.tar"
        files[name] = tar
        names.append(name)
    manifest = [{"Config": sha(config).split(":")[1] + ".json", "RepoTags": list(tags), "Layers": names}]
    files["manifest.json"] = json.dumps(manifest).encode()
    return files


def write_tar(path: Path, files: dict[str, bytes], *, gzip_outer: bool = False) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    path.write_bytes(gzip.compress(data) if gzip_outer else data)
    return path


def write_folder(path: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return path


APK_INSTALLED = """C:Q1abc=
P:musl
V:1.1.24-r2
A:x86_64
L:MIT
o:musl

C:Q1def=
P:musl-utils
V:1.1.24-r2
A:x86_64
o:musl

C:Q1ghi=
P:libcrypto1.1
V:1.1.1d-r3
A:x86_64
o:openssl

"""

ALPINE_OS_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.11.5\nPRETTY_NAME="Alpine Linux v3.11"\n'

DPKG_STATUS = """Package: libssl1.1
Status: install ok installed
Priority: optional
Architecture: amd64
Source: openssl
Version: 1.1.1n-0+deb11u3
Description: Secure Sockets Layer toolkit
 shared libraries

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib (1:1.2.11.dfsg-2+deb11u2)
Version: 1:1.2.11.dfsg-2+deb11u2

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.1-2+deb11u1

Package: git
Status: deinstall ok config-files
Architecture: amd64
Version: 1:2.30.2-1

"""

DEBIAN_OS_RELEASE = (
    'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\n'
)


def alpine_image(compression: str = "gzip") -> Image:
    return Image(
        layers=[
            layer_tar(
                [
                    Entry("etc", kind="dir"),
                    ("etc/os-release", ALPINE_OS_RELEASE),
                    ("etc/alpine-release", "3.11.5\n"),
                    ("lib/apk/db/installed", APK_INSTALLED),
                    ("bin/busybox", b"\x7fELF" + b"\x00" * 100),
                ]
            )
        ],
        compression=compression,
    )
