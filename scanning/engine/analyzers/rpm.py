"""RPM: the sqlite rpmdb (``rpmdb.sqlite``), read from memory; each row holds an rpm header blob.

The header blob (as stored in the rpmdb, without the lead and magic) is: a big-endian int32 count
of index entries, an int32 length of the data store, then 16-byte entries (tag, type, offset,
count), then the data store. Strings are NUL-terminated.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator, Mapping

from scanning.engine.analyzers.base import Analyzer, FoundPackage
from scanning.engine.limits import Limits
from scanning.engine.model import OSInfo

RPMDB_PATHS = frozenset({"var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"})

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH = 1000, 1001, 1002, 1003
TAG_LICENSE, TAG_ARCH, TAG_SOURCERPM = 1014, 1022, 1044
TYPE_INT32, TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING = 4, 6, 8, 9
_MAX_ENTRIES = 100_000


class RpmHeaderError(ValueError):
    pass


def parse_header(blob: bytes) -> dict[int, str | int]:
    """The few tags the scanner needs from one header blob."""
    if len(blob) < 8:
        raise RpmHeaderError("header too short")
    count, data_length = struct.unpack_from(">ii", blob, 0)
    if count <= 0 or count > _MAX_ENTRIES or data_length < 0:
        raise RpmHeaderError("implausible header sizes")
    store_start = 8 + 16 * count
    if store_start + data_length > len(blob):
        raise RpmHeaderError("header truncated")
    store = blob[store_start : store_start + data_length]
    wanted = {TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_LICENSE, TAG_ARCH, TAG_SOURCERPM}
    tags: dict[int, str | int] = {}
    for i in range(count):
        tag, kind, offset, n = struct.unpack_from(">iiii", blob, 8 + 16 * i)
        if tag not in wanted or offset < 0 or offset >= len(store):
            continue
        if kind == TYPE_INT32 and n >= 1 and offset + 4 <= len(store):
            tags[tag] = struct.unpack_from(">i", store, offset)[0]
        elif kind in (TYPE_STRING, TYPE_I18NSTRING, TYPE_STRING_ARRAY):
            end = store.find(b"\x00", offset)
            if end < 0:
                raise RpmHeaderError("unterminated string")
            tags[tag] = store[offset:end].decode("utf-8", errors="replace")
    return tags


def split_source_rpm(source_rpm: str) -> tuple[str, str, str] | None:
    """``openssl-3.0.7-27.el9.src.rpm`` -> (openssl, 3.0.7, 27.el9)."""
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if source_rpm.endswith(suffix):
            stem = source_rpm[: -len(suffix)]
            break
    else:
        return None
    parts = stem.rsplit("-", 2)
    if len(parts) != 3:
        return None
    return parts[0], parts[1], parts[2]


class RpmAnalyzer(Analyzer):
    package_type = "rpm"
    database = True

    def wants(self, path: str, limits: Limits) -> int | None:
        return limits.max_file_bytes if path in RPMDB_PATHS else None

    def parse(self, path: str, data: bytes, layer: int, os: OSInfo | None) -> Iterator[FoundPackage]:
        for tags in read_rpmdb_sqlite(data):
            yield self._package(tags, path, layer)

    def _package(self, tags: Mapping[int, str | int], path: str, layer: int) -> FoundPackage:
        name, version, release = str(tags[TAG_NAME]), str(tags[TAG_VERSION]), str(tags.get(TAG_RELEASE, ""))
        epoch = tags.get(TAG_EPOCH)
        epoch_int = epoch if isinstance(epoch, int) else None
        full = f"{version}-{release}" if release else version
        if epoch_int:
            full = f"{epoch_int}:{full}"
        source_name, source_version = name, full
        source = split_source_rpm(str(tags.get(TAG_SOURCERPM, "")))
        if source is not None:
            source_name = source[0]
            source_version = f"{source[1]}-{source[2]}"
            if epoch_int:
                source_version = f"{epoch_int}:{source_version}"
        license_field = str(tags.get(TAG_LICENSE, ""))
        return FoundPackage(
            name,
            full,
            source_name,
            source_version,
            "rpm",
            path,
            layer,
            str(tags.get(TAG_ARCH, "")),
            (license_field,) if license_field else (),
            epoch=epoch_int,
            release=release,
        )


def read_rpmdb_sqlite(data: bytes) -> Iterator[dict[int, str | int]]:
    """Every parsable header in the Packages table, row by row; the database never touches the disk.

    Memory: the file, sqlite's own copy of it, and one row at a time (no list of every row).
    """
    if not data.startswith(b"SQLite format 3\x00"):
        return
    image = bytearray(data)
    # A database left in WAL mode would look for a -wal file; the in-memory copy is read as legacy.
    image[18] = image[19] = 1
    connection = sqlite3.connect(":memory:")
    try:
        try:
            connection.deserialize(image)
            del image
            rows = connection.execute("SELECT blob FROM Packages")
        except sqlite3.Error:
            return
        while True:
            try:
                row = rows.fetchone()
            except sqlite3.Error:
                return
            if row is None:
                return
            blob = row[0]
            if not isinstance(blob, bytes):
                continue
            try:
                tags = parse_header(blob)
            except (RpmHeaderError, struct.error):
                continue
            if TAG_NAME in tags and TAG_VERSION in tags:
                yield tags
    finally:
        connection.close()
