"""A streaming tar reader for layer blobs: large reads, headers parsed by hand, bodies skipped in place.

Python's ``tarfile`` in stream mode reads through its decompression wrappers in small pieces and
builds a ``TarInfo`` object per entry; on a layer with many files that costs several times the
decompression itself. Here the blob is read in 256 KiB pieces, decompressed in bounded steps (a gzip
bomb never gets more than ``OUT_SIZE`` bytes ahead), both the blob and the decompressed stream are
hashed on a helper thread (``hashlib`` and ``zlib`` release the GIL on large buffers, so hashing
runs beside decompression), and the tar stream is walked as a list of chunks: a header is a 512-byte
slice, a body that nobody wants is skipped by moving an offset.

Supported: ustar and GNU headers, GNU long names and link names (``L``/``K``), PAX extended headers
(``x``) and global ones (``g``) for ``path``, ``linkpath`` and ``size``, base-256 sizes. GNU sparse
files (old ``S`` entries with their extension blocks, and PAX ``GNU.sparse.*``) and unknown entry
types are skipped with their bodies. A truncated header or body, a bad header checksum, a malformed
PAX record or an oversized extension header raises ``TarFormatError``.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import zstandard

from scanning.engine.errors import ScanError
from scanning.engine.streams import Readable

BLOCK = 512
# 256 KiB pieces: large enough that per-call overhead vanishes and hashlib/zlib release the GIL,
# small enough to stay in the CPU cache between inflating and hashing (measured faster than 1 MiB).
READ_SIZE = 256 * 1024  # compressed bytes per read
OUT_SIZE = 256 * 1024  # at most this many decompressed bytes per decompression step
MAX_EXTENSION_BYTES = 1024 * 1024  # one PAX header or GNU long name

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZERO_BLOCK = bytes(BLOCK)
_POSIX_MAGIC = b"ustar\x00"

# Entry kinds handed to the caller.
FILE, DIRECTORY, SYMLINK, HARDLINK, SPARSE, OTHER = "file", "dir", "symlink", "hardlink", "sparse", "other"

_REGULAR = frozenset({b"0", b"\x00", b"7"})
_HEADER_ONLY = {b"1": HARDLINK, b"2": SYMLINK, b"3": OTHER, b"4": OTHER, b"5": DIRECTORY, b"6": OTHER}


class TarFormatError(ValueError):
    """The decompressed stream is not a well-formed tar archive."""


@dataclass(slots=True)
class TarEntry:
    name: str
    kind: str  # file, dir, symlink, hardlink, sparse (a file whose content is not read), other
    size: int  # bytes of body that follow (file and sparse entries: stored bytes)
    linkname: str = ""


# -- hashing beside decompression -------------------------------------------------------------------


class Hasher:
    """Feeds (hash, bytes) pairs to a helper thread; ``close()`` waits until every byte is hashed.

    Pairs go over in batches of about ``batch`` bytes: fewer hand-offs between the threads (each
    may wait for the GIL or for a core on a busy machine). The queue is bounded, so at most
    ``depth`` batches (a few MiB) wait to be hashed.
    """

    def __init__(self, depth: int = 4, batch: int = 2 * 1024 * 1024) -> None:
        self._queue: queue.Queue[list[tuple[Any, bytes]] | None] = queue.Queue(maxsize=depth)
        self._batch = batch
        self._pending: list[tuple[Any, bytes]] = []
        self._pending_bytes = 0
        self._thread = threading.Thread(target=self._run, name="layer-hasher", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        get = self._queue.get
        while (items := get()) is not None:
            for digest, data in items:
                digest.update(data)

    def update(self, digest: Any, data: bytes) -> None:
        self._pending.append((digest, data))
        self._pending_bytes += len(data)
        if self._pending_bytes >= self._batch:
            self._queue.put(self._pending)
            self._pending, self._pending_bytes = [], 0

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._pending:
                self._queue.put(self._pending)
                self._pending = []
            self._queue.put(None)
            self._thread.join()


# -- blob -> decompressed chunks ----------------------------------------------------------------------


class LayerStream:
    """Reads a layer blob, hashes it, decompresses it (gzip, zstd or none, by magic bytes) and hashes
    the result. Iterate ``chunks()`` for the decompressed bytes; both digests are final after
    ``close()``.
    """

    def __init__(self, blob: Readable, *, what: str, max_blob_bytes: int, max_layer_bytes: int) -> None:
        self._blob = blob
        self._what = what
        self._max_blob = max_blob_bytes
        self._max_layer = max_layer_bytes
        self.blob_hash = hashlib.sha256()
        self.plain_hash = self.blob_hash
        self.blob_bytes = 0
        self.layer_bytes = 0
        self.compression = "none"
        self._hasher = Hasher()

    def close(self) -> None:
        self._hasher.close()

    @property
    def digest(self) -> str:
        return "sha256:" + self.blob_hash.hexdigest()

    @property
    def diff_id(self) -> str:
        return "sha256:" + self.plain_hash.hexdigest()

    def _raw(self, first: bytes) -> Iterator[bytes]:
        """The blob in pieces of up to READ_SIZE bytes, each counted and hashed; ``first`` comes first."""
        update, digest, read = self._hasher.update, self.blob_hash, self._blob.read
        data = first
        while data:
            self.blob_bytes += len(data)
            if self.blob_bytes > self._max_blob:
                raise ScanError(f"{self._what} is larger than the limit of {self._max_blob} bytes")
            update(digest, data)
            yield data
            data = read(READ_SIZE)

    def _emit(self, data: bytes) -> bytes:
        self.layer_bytes += len(data)
        if self.layer_bytes > self._max_layer:
            raise ScanError(
                f"{self._what} (decompressed) is larger than the limit of {self._max_layer} bytes"
            )
        self._hasher.update(self.plain_hash, data)
        return data

    def chunks(self) -> Iterator[bytes]:
        first = self._blob.read(READ_SIZE)
        while 0 < len(first) < 4:  # a short read: get enough to recognise the magic bytes
            more = self._blob.read(READ_SIZE)
            if not more:
                break
            first += more
        raw = self._raw(first)
        if first.startswith(GZIP_MAGIC):
            self.compression = "gzip"
            self.plain_hash = hashlib.sha256()
            return self._gunzip(raw)
        if first.startswith(ZSTD_MAGIC):
            self.compression = "zstd"
            self.plain_hash = hashlib.sha256()
            return self._unzstd(raw)
        return self._plain(raw)

    def _plain(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        # Not compressed: the diff id is the blob digest, hashed once.
        for data in raw:
            self.layer_bytes += len(data)
            if self.layer_bytes > self._max_layer:
                raise ScanError(
                    f"{self._what} (decompressed) is larger than the limit of {self._max_layer} bytes"
                )
            yield data

    def _gunzip(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        """Every gzip member in turn (zero padding between or after members is allowed, as gzip does)."""
        emit = self._emit
        decompressor: Any = None
        for piece in raw:
            data = piece
            while data:
                if decompressor is None:
                    data = data.lstrip(b"\x00")
                    if not data:
                        break
                    decompressor = zlib.decompressobj(31)
                while True:
                    out = decompressor.decompress(data, OUT_SIZE)
                    if out:
                        yield emit(out)
                    if decompressor.eof:
                        data = decompressor.unused_data
                        decompressor = None
                        break
                    data = decompressor.unconsumed_tail
                    if data:
                        continue
                    if len(out) < OUT_SIZE:
                        break  # all input used and nothing held back: read more
        if decompressor is not None:
            raise TarFormatError("the gzip stream is truncated")

    def _unzstd(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        reader = zstandard.ZstdDecompressor().stream_reader(
            cast(BinaryIO, _IterReader(raw)), read_size=READ_SIZE, read_across_frames=True
        )
        emit = self._emit
        while out := reader.read(OUT_SIZE):
            yield emit(out)


class _IterReader:
    """A file-like view of an iterator of byte pieces, for zstandard's stream reader."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        if not self._buffer:
            self._buffer = next(self._pieces, b"")
        if size < 0 or size >= len(self._buffer):
            data, self._buffer = self._buffer, b""
            return data
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


# -- decompressed chunks -> tar entries ---------------------------------------------------------------


class TarReader:
    """Walks a tar stream given as chunks of any size. ``entries()`` yields each entry; the caller
    then either calls ``read_body()`` or nothing (the body is skipped before the next entry).
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._pos = 0
        self._pending = 0  # body bytes (with padding) of the current entry not consumed yet
        self._body_left = 0  # body bytes (without padding) not read yet
        self._global: dict[str, str] = {}
        self.headers = 0

    # low level ------------------------------------------------------------------------------------
    def _take(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or fewer only when the stream ends."""
        end = self._pos + n
        if end <= len(self._buffer):
            data = self._buffer[self._pos : end]
            self._pos = end
            return data
        parts = [self._buffer[self._pos :]]
        have = len(parts[0])
        self._buffer, self._pos = b"", 0
        for chunk in self._chunks:
            if have + len(chunk) >= n:
                cut = n - have
                parts.append(chunk[:cut])
                self._buffer, self._pos = chunk, cut
                return b"".join(parts)
            parts.append(chunk)
            have += len(chunk)
        return b"".join(parts)

    def _skip(self, n: int) -> bool:
        """Skip ``n`` bytes; False when the stream ends first."""
        end = self._pos + n
        if end <= len(self._buffer):
            self._pos = end
            return True
        left = end - len(self._buffer)
        self._buffer, self._pos = b"", 0
        for chunk in self._chunks:
            if len(chunk) >= left:
                self._buffer, self._pos = chunk, left
                return True
            left -= len(chunk)
        return False

    def _finish_body(self) -> None:
        if self._pending:
            pending, self._pending, self._body_left = self._pending, 0, 0
            if not self._skip(pending):
                raise TarFormatError("unexpected end of data inside an entry")

    def read_body(self) -> bytes:
        """The body of the current entry (call at most once, right after the entry was yielded)."""
        size = self._body_left
        data = self._take(size)
        if len(data) != size:
            raise TarFormatError("unexpected end of data inside an entry")
        self._pending -= size
        self._body_left = 0
        return data

    def _block(self) -> bytes | None:
        """The next header block, None at a clean end of the stream."""
        header = self._take(BLOCK)
        if len(header) == BLOCK:
            return header
        if not header:
            return None
        raise TarFormatError(f"truncated header ({len(header)} of {BLOCK} bytes)")

    def _extension_body(self, size: int, what: str) -> bytes:
        if size > MAX_EXTENSION_BYTES:
            raise TarFormatError(f"{what} of {size} bytes is larger than {MAX_EXTENSION_BYTES}")
        data = self._take(size)
        if len(data) != size or not self._skip(-size % BLOCK):
            raise TarFormatError(f"unexpected end of data inside a {what}")
        return data

    # entries -----------------------------------------------------------------------------------------
    def entries(self) -> Iterator[TarEntry]:
        long_name: bytes | None = None
        long_link: bytes | None = None
        pax: dict[str, str] = {}
        while True:
            self._finish_body()
            header = self._block()
            if header is None:
                if self.headers == 0:
                    raise TarFormatError("empty stream")
                if long_name is not None or long_link is not None or pax:
                    raise TarFormatError("the archive ends after an extension header")
                return
            if header == _ZERO_BLOCK:
                if self.headers == 0:
                    raise TarFormatError("empty archive")
                return  # end-of-archive marker; what follows is hashed but not read
            self.headers += 1
            size, typeflag, name, linkname, sparse_extended = _parse_header(header)
            if typeflag in (b"L", b"K"):
                body = self._extension_body(size, "GNU long name")
                value = body.split(b"\x00", 1)[0]
                if typeflag == b"L":
                    long_name = value
                else:
                    long_link = value
                continue
            if typeflag in (b"x", b"g"):
                records = _parse_pax(self._extension_body(size, "PAX header"))
                if typeflag == b"g":
                    self._global.update(records)
                else:
                    pax.update(records)
                continue
            if long_name is not None:
                name = long_name
            if long_link is not None:
                linkname = long_link
            text_name = name.decode("utf-8", "surrogateescape")
            text_link = linkname.decode("utf-8", "surrogateescape")
            sparse = typeflag == b"S"
            if self._global or pax:
                merged = {**self._global, **pax} if self._global else pax
                text_name = merged.get("GNU.sparse.name") or merged.get("path") or text_name
                text_link = merged.get("linkpath", text_link)
                if "size" in merged:
                    size = _pax_number(merged["size"], "size")
                sparse = sparse or any(key.startswith("GNU.sparse.") for key in merged)
            long_name = long_link = None
            pax = {}
            if sparse_extended:
                self._skip_sparse_extensions()
            if typeflag in _REGULAR or sparse:
                if typeflag == b"\x00" and text_name.endswith("/") and not sparse:
                    kind = DIRECTORY  # an old (V7) archive's directory
                    size = 0
                else:
                    kind = SPARSE if sparse else FILE
            else:
                header_only = _HEADER_ONLY.get(typeflag)
                if header_only is not None:
                    kind, size = header_only, 0  # no body, whatever the size field says
                else:
                    kind = OTHER  # unknown type: its body is skipped
            self._body_left = size
            self._pending = size + (-size % BLOCK)
            yield TarEntry(text_name, kind, size, text_link)

    def _skip_sparse_extensions(self) -> None:
        while True:
            block = self._block()
            if block is None:
                raise TarFormatError("unexpected end of data inside a GNU sparse header")
            if not block[504]:
                return


def _nts(field: bytes) -> bytes:
    end = field.find(b"\x00")
    return field if end < 0 else field[:end]


def _number(field: bytes, what: str) -> int:
    """An octal number, or GNU base-256 when the first byte has its high bit set."""
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:  # negative
            value -= 1 << (8 * (len(field) - 1))
        elif field[0] != 0x80:
            raise TarFormatError(f"invalid base-256 {what} in a header")
        return value
    text = _nts(field).strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarFormatError(f"invalid {what} {text[:20]!r} in a header") from None


def _octal(header: bytes, start: int, end: int, what: str) -> int:
    """A numeric field: the common octal case parsed in place, anything else by ``_number``."""
    stop = header.find(b"\x00", start, end)
    try:
        return int(header[start : end if stop < 0 else stop], 8)  # int() allows surrounding spaces
    except ValueError:
        return _number(header[start:end], what)


def _parse_header(header: bytes) -> tuple[int, bytes, bytes, bytes, bool]:
    """(size, typeflag, name, linkname, has GNU sparse extension blocks) of a checked header block."""
    stored = _octal(header, 148, 156, "checksum")
    # Unsigned sum of the block with the checksum field read as spaces (8 * 32). adler32's low half
    # is 1 + the byte sum modulo 65521, exact for up to 256 bytes (at most 65280): sums in C.
    total = (
        (zlib.adler32(header[:256]) & 0xFFFF)
        + (zlib.adler32(header[256:]) & 0xFFFF)
        - (zlib.adler32(header[148:156]) & 0xFFFF)
        + 255
    )
    if total != stored:
        # Some old tars summed signed bytes.
        signed = (
            total
            - 256 * sum(1 for b in header if b >= 128)
            + 256 * sum(1 for b in header[148:156] if b >= 128)
        )
        if signed != stored:
            raise TarFormatError("bad header checksum: not a tar archive, or a damaged one")
    size = _octal(header, 124, 136, "size")
    if size < 0:
        raise TarFormatError("negative size in a header")
    typeflag = header[156:157]
    stop = header.find(b"\x00", 0, 100)
    name = header[: 100 if stop < 0 else stop]
    if header[345] and header[257:263] == _POSIX_MAGIC:
        prefix = _nts(header[345:500])
        name = prefix + b"/" + name
    linkname = b""
    if typeflag in (b"1", b"2"):
        linkname = _nts(header[157:257])
    sparse_extended = typeflag == b"S" and header[482] != 0
    return size, typeflag, name, linkname, sparse_extended


def _pax_number(value: str, key: str) -> int:
    if not value.isdigit():
        raise TarFormatError(f"invalid PAX {key} {value[:20]!r}")
    return int(value)


def _parse_pax(body: bytes) -> dict[str, str]:
    """PAX records: ``<length> <key>=<value>\\n``, the length counting the whole record."""
    records: dict[str, str] = {}
    pos = 0
    end = len(body)
    while pos < end:
        if body[pos] == 0:
            break  # padding
        space = body.find(b" ", pos, pos + 24)
        if space < 0:
            raise TarFormatError("malformed PAX record")
        try:
            length = int(body[pos:space])
        except ValueError:
            raise TarFormatError("malformed PAX record length") from None
        stop = pos + length
        if length <= 0 or stop > end or body[stop - 1 : stop] != b"\n":
            raise TarFormatError("malformed PAX record")
        record = body[space + 1 : stop - 1]
        equals = record.find(b"=")
        if equals <= 0:
            raise TarFormatError("malformed PAX record")
        key = record[:equals].decode("utf-8", "surrogateescape")
        records[key] = record[equals + 1 :].decode("utf-8", "surrogateescape")
        pos = stop
    return records
