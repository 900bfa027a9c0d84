"""Layer tars read as streams, entry by entry, and merged into the image's final filesystem.

Nothing is extracted: only the files an analyzer asked for are held in memory (within caps), plus
symlinks and hard links so that paths can be resolved. Each file remembers the layer that last
wrote it.
"""

from __future__ import annotations

import posixpath
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import zstandard

from scanning.engine.errors import ScanError
from scanning.engine.limits import Limits
from scanning.engine.streams import Readable
from scanning.engine.tarstream import (
    DIRECTORY,
    FILE,
    HARDLINK,
    SPARSE,
    SYMLINK,
    LayerStream,
    TarEntry,
    TarFormatError,
    TarReader,
)

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

# Given a normalised path, how many bytes of it the analyzers want (None: not wanted).
WantFn = Callable[[str], int | None]


@dataclass
class Node:
    kind: str  # "file", "symlink", "hardlink"
    layer: int
    data: bytes | None = None  # wanted regular files only
    target: str | None = None  # symlink target as written, or hard link target (normalised)
    size: int = 0


@dataclass
class LayerFiles:
    """What one layer changes: whiteouts and opaque dirs first, then its own entries."""

    index: int
    whiteouts: list[str] = field(default_factory=list)
    opaque_dirs: list[str] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)  # a directory here replaces a lower file or symlink
    warnings: list[str] = field(default_factory=list)
    entries: int = 0

    @property
    def whiteout_entries(self) -> int:
        return len(self.whiteouts) + len(self.opaque_dirs)


def normalize_entry_name(name: str) -> str | None:
    """A tar entry name as a clean relative path, or None when it would escape the root.

    Leading ``/`` and ``./`` are dropped (Docker does the same); ``..`` that climbs above the root
    makes the entry unsafe and it is ignored.
    """
    if "\x00" in name:
        return None
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
            continue
        parts.append(part)
    if not parts:
        return ""
    return "/".join(parts)


_DECOMPRESSION_ERRORS = (TarFormatError, EOFError, OSError, zlib.error, zstandard.ZstdError, ValueError)


def read_layer(
    blob: Readable,
    *,
    index: int,
    wants: WantFn,
    limits: Limits,
    expected_digest: str | None,
    expected_diff_id: str | None,
    what: str,
    budget: list[int] | None = None,
) -> tuple[LayerFiles, str, str]:
    """Stream one layer blob; return its changes, the blob digest and the diff id, both verified.

    Every byte of the blob and of the decompressed stream is hashed, including what follows the
    tar's end-of-archive marker, so both digests cover the whole content.
    """
    stream = LayerStream(
        blob, what=what, max_blob_bytes=limits.max_blob_bytes, max_layer_bytes=limits.max_layer_bytes
    )
    try:
        chunks = stream.chunks()
        files = _walk_tar(
            TarReader(chunks), index=index, wants=wants, limits=limits, what=what, budget=budget
        )
        for _ in chunks:  # the rest is hashed, and a truncated compressed stream still detected
            pass
    except ScanError:
        raise
    except _DECOMPRESSION_ERRORS as exc:
        raise ScanError(f"{what} is not a readable (gzip, zstd or plain) tar archive: {exc}") from None
    finally:
        stream.close()
    digest = stream.digest
    if expected_digest is not None and digest != expected_digest:
        raise ScanError(
            f"{what}: digest mismatch, expected {expected_digest} but the content hashes to {digest}"
        )
    diff_id = stream.diff_id
    if expected_diff_id is not None and diff_id != expected_diff_id:
        raise ScanError(
            f"{what}: uncompressed content hashes to {diff_id} but the image config says {expected_diff_id}"
        )
    return files, digest, diff_id


def _walk_tar(
    tar: TarReader, *, index: int, wants: WantFn, limits: Limits, what: str, budget: list[int] | None
) -> LayerFiles:
    files = LayerFiles(index=index)
    max_entries = limits.max_entries_per_layer
    for entry in tar.entries():
        files.entries += 1
        if files.entries > max_entries:
            raise ScanError(f"{what} has more than {max_entries} entries")
        _take_entry(tar, entry, files, wants, what, budget)
    return files


def _take_entry(
    tar: TarReader,
    entry: TarEntry,
    files: LayerFiles,
    wants: WantFn,
    what: str,
    budget: list[int] | None,
) -> None:
    path = normalize_entry_name(entry.name)
    if path is None:
        files.warnings.append(f"{what}: ignored entry with an unsafe name {entry.name[:200]!r}")
        return
    if path == "":
        return
    directory, _, base = path.rpartition("/")
    if base.startswith(WHITEOUT_PREFIX):
        if base == OPAQUE_MARKER:
            files.opaque_dirs.append(directory)
        else:
            files.whiteouts.append(posixpath.join(directory, base[len(WHITEOUT_PREFIX) :]))
        return
    kind = entry.kind
    if kind == FILE:
        cap = wants(path)
        if cap is None:
            # An unwanted file still replaces whatever a lower layer had at this path.
            if path in files.nodes:
                del files.nodes[path]
            return
        if entry.size > cap:
            files.warnings.append(
                f"{what}: skipped {path} ({entry.size} bytes, more than the {cap} byte cap)"
            )
            files.nodes.pop(path, None)
            return
        _charge(budget, entry.size, what)
        data = tar.read_body()
        files.nodes[path] = Node("file", files.index, data=data, size=len(data))
        return
    if kind == DIRECTORY:
        files.nodes.pop(path, None)
        files.dirs.add(path)
        return
    if kind == SYMLINK:
        files.nodes[path] = Node("symlink", files.index, target=entry.linkname, size=0)
        return
    if kind == HARDLINK:
        target = normalize_entry_name(entry.linkname)
        if not target:
            files.warnings.append(f"{what}: ignored hard link {path!r} pointing outside the image")
            files.nodes.pop(path, None)
            return
        cap = wants(path)
        if cap is None:
            # Like an unwanted file: it replaces whatever was below, and nobody reads it.
            files.nodes.pop(path, None)
            return
        linked = files.nodes.get(target)
        if linked is not None and linked.kind == "file":
            if linked.size > cap:
                files.warnings.append(
                    f"{what}: skipped {path} (a hard link to {linked.size} bytes, more than the {cap} byte cap)"
                )
                files.nodes.pop(path, None)
                return
            # The bytes are shared, but each link is parsed again: thousands of links to one package
            # database would multiply the work and the packages found, so links count like copies.
            _charge(budget, linked.size, what)
            files.nodes[path] = Node("file", files.index, data=linked.data, size=linked.size)
        else:
            files.nodes[path] = Node("hardlink", files.index, target=target)
        return
    if kind == SPARSE and wants(path) is not None:
        files.warnings.append(f"{what}: skipped {path} (a sparse file, not read)")
    # sparse files, devices, fifos, unknown types: whatever was below at this path is gone
    files.nodes.pop(path, None)


def _charge(budget: list[int] | None, size: int, what: str) -> None:
    """Count ``size`` bytes against the image's budget of bytes held and parsed (``max_total_file_bytes``)."""
    if budget is not None:
        budget[0] -= size
        if budget[0] < 0:
            raise ScanError(f"{what}: the files to analyse exceed the in-memory limit")


class FileSystem:
    """The final filesystem: layers applied bottom-up, whiteouts and opaque dirs included."""

    def __init__(self, *, max_symlink_hops: int = 40) -> None:
        self.nodes: dict[str, Node] = {}
        self._hops = max_symlink_hops

    def apply(self, layer: LayerFiles) -> None:
        removed: set[str] = set(layer.whiteouts)
        opaque = set(layer.opaque_dirs)
        for directory in layer.dirs:
            self.nodes.pop(directory, None)
        # A symlink or file replacing a directory hides everything below it.
        replaced_dirs = set(layer.nodes)
        if self.nodes and (removed or opaque or replaced_dirs):
            for path in list(self.nodes):
                if (
                    path in removed
                    or _under_any(path, removed)
                    or _under_any(path, opaque)
                    or _under_any(path, replaced_dirs)
                ):
                    del self.nodes[path]
        self.nodes.update(layer.nodes)

    def resolve(self, path: str) -> str | None:
        """The real path behind ``path``, following symlinks in every component."""
        hops = 0
        parts = path.split("/")
        resolved: list[str] = []
        while parts:
            part = parts.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/".join([*resolved, part])
            node = self.nodes.get(candidate)
            if node is not None and node.kind == "symlink" and node.target is not None:
                hops += 1
                if hops > self._hops:
                    raise ScanError(f"symlink loop while resolving /{path}")
                target = node.target
                if target.startswith("/"):
                    resolved = []
                parts = [p for p in target.split("/") if p] + parts
                continue
            resolved.append(part)
        return "/".join(resolved)

    def read(self, path: str) -> tuple[bytes, int] | None:
        """The content and layer index of a wanted file, following symlinks and hard links."""
        real = self.resolve(path)
        if real is None:
            return None
        node = self.nodes.get(real)
        hops = 0
        while node is not None and node.kind == "hardlink" and node.target is not None:
            hops += 1
            if hops > self._hops:
                raise ScanError(f"hard link loop at /{path}")
            target = self.nodes.get(node.target)
            if target is None:
                return None
            node = Node(target.kind, node.layer, data=target.data, target=target.target, size=target.size)
        if node is None or node.kind != "file" or node.data is None:
            return None
        return node.data, node.layer

    def files(self) -> Iterator[tuple[str, Node]]:
        for path, node in self.nodes.items():
            if node.kind == "file" and node.data is not None:
                yield path, node


def _under_any(path: str, dirs: set[str]) -> bool:
    if not dirs:
        return False
    if "" in dirs:
        return True
    parent = path
    while "/" in parent:
        parent = parent.rsplit("/", 1)[0]
        if parent in dirs:
            return True
    return False
