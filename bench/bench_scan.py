"""Scanning engine: layer streaming against plain decompression, peak memory, and matching throughput.

A multi-layer OCI image (gzip layers, about ``BENCH_SCAN_MB`` MiB uncompressed, default 1024) is
generated in a temporary folder: many files of mixed sizes and compressibility, a real-looking dpkg
status database of a few hundred packages updated by a later layer, Python and npm metadata,
symlinks, hard links, long names and whiteouts. Then, in the same run:

- plain decompression of the same layer blobs (read the blob, gunzip it, no hashing, no tar
  parsing; the fastest of two ways), best of several runs;
- the full scan (both digests verified, tar parsed, packages read), best of several runs, reported
  as a ratio to that decompression (target at most 1.5x);
- the peak RSS of a scan in a fresh child process (target under 300 MB whatever the image size),
  next to the RSS of a child that only imports the engine, and the peak of Python allocations
  during a scan (tracemalloc, another child);
- matching: 10,000 components against 500,000 synthetic OSV advisories (index build and match).

Needs no database and does not import Django. The generated image is deleted afterwards.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
ROUNDS = 3  # interleaved (decompress, scan) pairs


# -- image generation ---------------------------------------------------------------------------------


class _GzipBlobWriter:
    """Writes a gzip blob while hashing the plain and the compressed bytes."""

    def __init__(self, path: Path) -> None:
        self._out: BinaryIO = path.open("wb")
        self._compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # fast level: generation time
        self._plain = hashlib.sha256()
        self._blob = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.plain_bytes = 0
        self.blob_bytes = 0

    def write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= MiB:
            self._flush_pending()

    def _flush_pending(self) -> None:
        data = b"".join(self._pending)
        self._pending, self._pending_bytes = [], 0
        self._plain.update(data)
        self.plain_bytes += len(data)
        self._emit(self._compressor.compress(data))

    def _emit(self, out: bytes) -> None:
        if out:
            self._blob.update(out)
            self.blob_bytes += len(out)
            self._out.write(out)

    def close(self) -> tuple[str, str]:
        self._flush_pending()
        self._emit(self._compressor.flush())
        self._out.close()
        return "sha256:" + self._blob.hexdigest(), "sha256:" + self._plain.hexdigest()


class _TarWriter:
    def __init__(self, sink: _GzipBlobWriter) -> None:
        self._sink = sink
        self.files = 0

    def _header(self, info: tarfile.TarInfo) -> None:
        info.mtime = 1_700_000_000
        info.uname = info.gname = "root"
        self._sink.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def dir(self, name: str) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        self._header(info)

    def file(self, name: str, data: bytes | memoryview) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        self._header(info)
        self._sink.write(bytes(data))
        if len(data) % 512:
            self._sink.write(bytes(512 - len(data) % 512))
        self.files += 1

    def link(self, name: str, target: str, *, hard: bool = False) -> None:
        info = tarfile.TarInfo(name)
        info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
        info.linkname = target
        self._header(info)

    def close(self) -> None:
        self._sink.write(bytes(1024))


def _content_pool(rng: random.Random, size: int) -> bytes:
    """Bytes to cut files from: mostly text (compresses about 3x), some incompressible binary."""
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz_", k=rng.randint(2, 10))) for _ in range(800)]
    parts: list[bytes] = []
    total = 0
    segment = 64 * 1024
    while total < size:
        if rng.random() < 0.15:
            parts.append(rng.randbytes(segment))
        else:
            text = " ".join(rng.choices(words, k=segment // 5)).encode()
            parts.append(text[:segment])
        total += segment
    return b"".join(parts)[:size]


def _dpkg_status(rng: random.Random, count: int) -> tuple[str, list[tuple[str, str, str]]]:
    """A dpkg status database in Debian's own layout, and its (package, source, version) triples."""
    stanzas, packages = [], []
    for i in range(count):
        source = f"src{i // 3:03d}lib"
        name = f"{source}{i % 3}" if i % 3 else source
        epoch = "1:" if i % 17 == 0 else ""
        version = f"{epoch}{rng.randint(0, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 9)}-{rng.randint(1, 5)}+deb12u{rng.randint(1, 3)}"
        status = "deinstall ok config-files" if i % 50 == 49 else "install ok installed"
        source_line = (
            f"Source: {source} ({version})\n"
            if name != source and i % 2
            else (f"Source: {source}\n" if name != source else "")
        )
        stanzas.append(
            f"Package: {name}\nStatus: {status}\nPriority: optional\nSection: libs\n"
            f"Installed-Size: {rng.randint(10, 9000)}\nMaintainer: Debian Maintainers <debian@example.org>\n"
            f"Architecture: amd64\nMulti-Arch: same\n{source_line}Version: {version}\n"
            f"Depends: libc6 (>= 2.34), zlib1g (>= 1:1.2.0)\n"
            f"Description: synthetic package {i}\n This package exists for the scanning benchmark.\n .\n"
            f" It has a long description spread over several lines.\n"
        )
        if "installed" in status and "config" not in status:
            packages.append((name, source, version))
    return "\n".join(stanzas) + "\n", packages


DEBIAN_OS_RELEASE = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
    "VERSION_CODENAME=bookworm\nID=debian\n"
)


def build_image(folder: Path, total_mb: int, seed: int = 20240601) -> dict[str, Any]:
    """An OCI image layout in ``folder``; returns what it holds."""
    rng = random.Random(seed)
    pool = _content_pool(rng, 16 * MiB)
    blobs = folder / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    target = total_mb * MiB
    shares = [0.30, 0.25, 0.15, 0.15, 0.10, 0.05]
    status_small, _ = _dpkg_status(random.Random(seed), 300)
    status_full, debs = _dpkg_status(random.Random(seed), 400)
    layers: list[dict[str, Any]] = []
    diff_ids: list[str] = []
    history: list[dict[str, str]] = []
    files = 0
    plain_total = blob_total = 0
    for index, share in enumerate(shares):
        tmp = folder / f"layer-{index}.tmp"
        sink = _GzipBlobWriter(tmp)
        tar = _TarWriter(sink)
        budget = int(target * share)
        if index == 0:
            tar.dir("etc")
            tar.file("etc/os-release", DEBIAN_OS_RELEASE.encode())
            tar.file("etc/debian_version", b"12.5\n")
            tar.file("var/lib/dpkg/status", status_small.encode())
        if index == 2:
            tar.file("var/lib/dpkg/status", status_full.encode())  # apt-get install: more packages
        if index == 3:
            for i in range(60):
                meta = f"Metadata-Version: 2.1\nName: pkg-{i}\nVersion: 1.{i}.0\n\nLong text\n"
                tar.file(f"usr/lib/python3/dist-packages/pkg_{i}-1.{i}.0.dist-info/METADATA", meta.encode())
        if index == 4:
            for i in range(120):
                doc = json.dumps({"name": f"npm-pkg-{i}", "version": f"2.{i}.1", "license": "MIT"})
                tar.file(f"app/node_modules/npm-pkg-{i}/package.json", doc.encode())
        if index == 5:
            tar.file("usr/share/doc/.wh.layer0-doc", b"")  # whiteouts of lower files
            tar.file("opt/cache/.wh..wh..opq", b"")
        directory = f"usr/lib/layer{index}"
        written = 0
        n = 0
        while written < budget:
            size = min(int(rng.lognormvariate(9.0, 1.9)), 8 * MiB)
            start = rng.randrange(0, len(pool) - size)
            if n % 200 == 0:
                directory = f"usr/lib/layer{index}/d{n // 200:04d}/" + "sub/" * rng.randint(0, 4)
                tar.dir(directory.rstrip("/"))
            name = f"{directory}file-{n:06d}.bin"
            if n % 997 == 0:
                name = f"{directory}{'a-very-long-directory-name-' * 5}/file-{n:06d}.so"  # PAX path
            tar.file(name, memoryview(pool)[start : start + size])
            if n % 50 == 0:
                tar.link(f"{directory}link-{n:06d}", f"file-{n:06d}.bin")
            if n % 333 == 0:
                tar.link(f"{directory}hard-{n:06d}", name, hard=True)
            written += size
            n += 1
        tar.close()
        files += tar.files
        blob_digest, diff_id = sink.close()
        plain_total += sink.plain_bytes
        blob_total += sink.blob_bytes
        tmp.rename(blobs / blob_digest.split(":")[1])
        layers.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": blob_digest,
                "size": sink.blob_bytes,
            }
        )
        diff_ids.append(diff_id)
        history.append({"created_by": f"RUN step {index}"})
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }
    ).encode()
    config_digest = _write_blob(blobs, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": layers,
        }
    ).encode()
    manifest_digest = _write_blob(blobs, manifest)
    (folder / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (folder / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": manifest_digest,
                        "size": len(manifest),
                        "platform": {"os": "linux", "architecture": "amd64"},
                    }
                ],
            }
        )
    )
    return {
        "layers": [blobs / layer["digest"].split(":")[1] for layer in layers],
        "files": files,
        "plain_bytes": plain_total,
        "blob_bytes": blob_total,
        "debs": len(debs),
    }


def _write_blob(blobs: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (blobs / digest.split(":")[1]).write_bytes(data)
    return digest


# -- measurements ---------------------------------------------------------------------------------


def _gunzip_zlib(paths: list[Path]) -> int:
    """Read each blob in 64 KiB pieces and inflate each piece in one call."""
    total = 0
    for path in paths:
        decompressor = zlib.decompressobj(31)
        with path.open("rb") as stream:
            while chunk := stream.read(64 * 1024):
                total += len(decompressor.decompress(chunk))
        total += len(decompressor.flush())
    return total


def _gunzip_bounded(paths: list[Path]) -> int:
    """Read each blob in the scanner's piece size and inflate at most as much per call, as it does."""
    from scanning.engine.tarstream import OUT_SIZE, READ_SIZE

    total = 0
    for path in paths:
        decompressor = zlib.decompressobj(31)
        with path.open("rb") as stream:
            while chunk := stream.read(READ_SIZE):
                while chunk:
                    total += len(decompressor.decompress(chunk, OUT_SIZE))
                    chunk = decompressor.unconsumed_tail
        total += len(decompressor.flush())
    return total


def _gunzip_module(paths: list[Path]) -> int:
    """The gzip module, read in 1 MiB pieces."""
    total = 0
    for path in paths:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(MiB):
                total += len(chunk)
    return total


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _best(fn: Callable[[], Any], repeats: int = 2) -> tuple[float, Any]:
    runs = [_timed(fn) for _ in range(repeats)]
    return min(t for t, _ in runs), runs[-1][1]


def _fastest_gunzip(paths: list[Path]) -> tuple[Callable[[list[Path]], int], int]:
    """Which plain decompression is fastest here (one run of each), so the baseline is not handicapped."""
    ways: list[Callable[[list[Path]], int]] = [_gunzip_zlib, _gunzip_bounded, _gunzip_module]
    best: tuple[float, int, Callable[[list[Path]], int]] | None = None
    for way in ways:
        started = time.perf_counter()
        plain = way(paths)
        elapsed = time.perf_counter() - started
        if best is None or elapsed < best[0]:
            best = (elapsed, plain, way)
    assert best is not None
    return best[2], best[1]


# The child's own peak: VmHWM of its address space. ru_maxrss would not do: Linux carries the
# parent's peak across fork and exec, so a child of a big parent reports the parent's figure.
_PEAK_KB = """
def peak_kb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""
_CHILD_SCAN = (
    _PEAK_KB
    + """
import sys, time
from scanning.engine import scan_path
started = time.perf_counter()
inventory = scan_path(sys.argv[1])
print(peak_kb(), len(inventory.components), time.perf_counter() - started)
"""
)
_CHILD_TRACED = """
import sys, tracemalloc
from scanning.engine import scan_path
tracemalloc.start()
scan_path(sys.argv[1])
print(tracemalloc.get_traced_memory()[1])
"""
_CHILD_IMPORT = (
    _PEAK_KB
    + """
import scanning.engine
print(peak_kb())
"""
)


def _child(code: str, *args: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return out.stdout.split()


def _scan_rows(total_mb: int) -> list[dict[str, Any]]:
    from scanning.engine import scan_path

    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        info = build_image(folder, total_mb)
        generated = time.perf_counter() - started
        paths = info["layers"]
        gunzip, plain = _fastest_gunzip(paths)
        # Rounds of (decompress, scan) back to back: the machine is shared, so both sides get the
        # same number of tries, and each round's own ratio is seen at (nearly) the same load.
        pairs = []
        for _ in range(ROUNDS):
            decompress_t, _ = _timed(lambda: gunzip(paths))
            scan_t, inventory = _timed(lambda: scan_path(folder))
            pairs.append((decompress_t, scan_t))
        decompress_s = min(d for d, _ in pairs)
        scan_s = min(s for _, s in pairs)
        rss_kb, components, child_s = _child(_CHILD_SCAN, str(folder))
        (import_kb,) = _child(_CHILD_IMPORT)
        (traced,) = _child(_CHILD_TRACED, str(folder))
    debs = sum(1 for c in inventory.components if c.package_type == "deb")
    return [
        {
            "name": "scan: generated image",
            "layers": len(paths),
            "files": info["files"],
            "uncompressed_MB": round(info["plain_bytes"] / MiB),
            "compressed_MB": round(info["blob_bytes"] / MiB),
            "components": len(inventory.components),
            "deb": f"{debs}/{info['debs']}",
            "generate_s": round(generated, 1),
        },
        {
            "name": "scan vs plain decompression (baseline: read+gunzip, no hashing, no tar parsing)",
            "decompress_s": round(decompress_s, 2),
            "scan_s": round(scan_s, 2),
            "ratio": round(scan_s / decompress_s, 2),
            "best_round_ratio": round(min(s / d for d, s in pairs), 2),
            "baseline": gunzip.__name__,
            "target": "<= 1.5",
            "scan_MB_per_s": round(plain / MiB / scan_s),
        },
        {
            "name": "scan peak RSS (child process)",
            "peak_rss_MB": round(int(rss_kb) / 1024),
            "import_only_rss_MB": round(int(import_kb) / 1024),
            "python_heap_peak_MB": round(int(traced) / MiB, 1),  # tracemalloc, during the scan only
            "child_scan_s": round(float(child_s), 2),
            "components": int(components),
            "target": "< 300",
        },
    ]


# -- matching --------------------------------------------------------------------------------------


def _matching_rows(components_n: int = 10_000, advisories_n: int = 500_000) -> list[dict[str, Any]]:
    from scanning.engine.model import Component
    from scanning.engine.osv import Advisory, AdvisoryIndex, Affected, Event, Range

    rng = random.Random(7)
    ecosystems = [
        ("Debian:12", "deb", 5_000, lambda: f"{rng.randint(1, 9)}.{rng.randint(0, 30)}-{rng.randint(1, 4)}"),
        ("PyPI", "pypi", 10_000, lambda: f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"),
        ("npm", "npm", 10_000, lambda: f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"),
    ]
    names = [
        (eco, f"{kind}-package-{i}", version)
        for eco, kind, count, version in ecosystems
        for i in range(count)
    ]
    started = time.perf_counter()
    advisories = []
    vector = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    for i in range(advisories_n):
        eco, name, version = names[rng.randrange(len(names))]
        events = (Event("introduced", "0"), Event("fixed", version()))
        if i % 10 == 0:
            events = (Event("introduced", version()), Event("last_affected", version()))
        affected = Affected(eco, name, "", (Range("ECOSYSTEM", events),), ())
        advisories.append(
            Advisory(
                f"OSV-{i}",
                (f"CVE-2024-{i}",),
                "",
                "2024-01-01T00:00:00Z",
                None,
                (("CVSS_V3", vector),),
                (affected,),
            )
        )
    generated = time.perf_counter() - started
    build_s, index = _best(lambda: AdvisoryIndex(advisories), repeats=1)
    components = []
    for eco, kind, count, version in ecosystems:
        share = components_n * count // len(names)
        for i in rng.sample(range(count), share):
            v = version()
            components.append(
                Component(f"{kind}-package-{i}", v, f"{kind}-package-{i}", v, kind, eco, "", "", None)
            )
    match_s, findings = _best(lambda: index.match(components))
    return [
        {
            "name": "matching",
            "components": len(components),
            "advisories": index.count,
            "generate_s": round(generated, 1),
            "index_build_s": round(build_s, 2),
            "match_s": round(match_s, 2),
            "components_per_s": round(len(components) / match_s),
            "findings": len(findings),
        }
    ]


def run() -> list[dict[str, Any]]:
    total_mb = int(os.environ.get("BENCH_SCAN_MB", "1024"))
    return [*_scan_rows(total_mb), *_matching_rows()]


if __name__ == "__main__":
    for row in run():
        print("  " + "  ".join(f"{key}={value}" for key, value in row.items()))
