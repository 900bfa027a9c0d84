"""Small images and OSV records built by the tests themselves (no binaries shipped)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import socket
import tarfile
import threading
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"

ALPINE_OS_RELEASE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME="Alpine Linux v3.18"\n'
DEBIAN_OS_RELEASE = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'

V31_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
V40_CRITICAL = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3
V31_MAJOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"  # 5.4
V31_MINOR = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.8


def apk_db(packages: list[tuple[str, str, str]]) -> str:
    """lib/apk/db/installed for (name, version, origin) entries."""
    return "".join(
        f"C:Q1{name}=\nP:{name}\nV:{version}\nA:x86_64\no:{origin}\n\n" for name, version, origin in packages
    )


def dpkg_status(packages: list[tuple[str, str, str]]) -> str:
    return "\n".join(
        f"Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nSource: {source}\nVersion: {version}\n"
        for name, version, source in packages
    )


def layer_tar(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def docker_archive(path: Path, layers: list[dict[str, str | bytes]], tag: str = "acme/app:1") -> Path:
    """A ``docker save`` tarball of ``layers`` (bottom first), each a dict of file name -> content."""
    tars = [layer_tar(files) for files in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars],
            },
            "history": [{"created_by": f"/bin/sh -c #(nop) ADD step {i}"} for i in range(len(tars))],
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    files = {config_name: config}
    names = []
    for i, tar in enumerate(tars):
        name = f"{i:064x}/layer.tar"
        files[name] = tar
        names.append(name)
    files["manifest.json"] = json.dumps(
        [{"Config": config_name, "RepoTags": [tag], "Layers": names}]
    ).encode()
    path.write_bytes(layer_tar(files))  # the archive itself is a plain tar of those files
    return path


def alpine_image(path: Path, packages: list[tuple[str, str, str]] | None = None) -> Path:
    """Two layers: the OS and a first package set, then an application layer adding one more."""
    packages = packages or [("musl", "1.2.4-r1", "musl"), ("libcrypto3", "3.1.2-r0", "openssl")]
    return docker_archive(
        path,
        [
            {"etc/os-release": ALPINE_OS_RELEASE, "lib/apk/db/installed": apk_db(packages)},
            {
                "lib/apk/db/installed": apk_db([*packages, ("zlib", "1.2.13-r1", "zlib")]),
                "app/run.sh": "#!/bin/sh\n",
            },
        ],
    )


def osv(
    osv_id: str,
    ecosystem: str,
    name: str,
    fixed: str | None,
    *,
    introduced: str = "0",
    vector: str | None = None,
    aliases: list[str] | None = None,
    modified: str = "2024-01-01T00:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    events: list[dict[str, str]] = [{"introduced": introduced}]
    if fixed:
        events.append({"fixed": fixed})
    record: dict[str, Any] = {
        "id": osv_id,
        "modified": modified,
        "summary": f"{name} is vulnerable",
        "aliases": aliases or [],
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }
    if vector:
        kind = "CVSS_V4" if vector.startswith("CVSS:4.0/") else "CVSS_V3"
        record["severity"] = [{"type": kind, "score": vector}]
    record.update(extra)
    return record


def write_records(folder: Path, records: list[dict[str, Any]], sub: str = "") -> Path:
    target = folder / sub if sub else folder
    target.mkdir(parents=True, exist_ok=True)
    for record in records:
        (target / f"{record['id']}.json").write_text(json.dumps(record))
    return folder


def alpine_records() -> list[dict[str, Any]]:
    """Records for alpine_image(): musl critical (v3.1), openssl critical (v4.0), zlib major, one unaffected."""
    eco = "Alpine:v3.18"
    return [
        osv(
            "ALPINE-CVE-2024-0001",
            eco,
            "musl",
            "1.2.4_git20230717-r5",
            vector=V31_CRITICAL,
            aliases=["CVE-2024-0001"],
        ),
        osv(
            "ALPINE-CVE-2024-0002", eco, "openssl", "3.1.4-r0", vector=V40_CRITICAL, aliases=["CVE-2024-0002"]
        ),
        osv("ALPINE-CVE-2024-0003", eco, "zlib", None, vector=V31_MAJOR, aliases=["CVE-2024-0003"]),
        osv("ALPINE-CVE-2024-0004", eco, "musl", "1.2.3-r0", vector=V31_MINOR),  # already fixed in 1.2.4
        osv("ALPINE-CVE-2024-0005", "Alpine:v3.17", "zlib", "1.3-r0", vector=V31_MINOR),  # another release
    ]


class SilentServer:
    """Accepts TCP connections and never answers: a registry that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.held: list[socket.socket] = []
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.sock.close()
        for conn in self.held:
            conn.close()
