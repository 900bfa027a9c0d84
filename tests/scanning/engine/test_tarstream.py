"""The hand-written streaming tar reader: formats it must understand and damage it must refuse."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterator

import pytest
import zstandard

from scanning.engine.errors import ScanError
from scanning.engine.layers import LayerFiles, read_layer
from scanning.engine.limits import DEFAULT_LIMITS, Limits
from scanning.engine.tarstream import FILE, SPARSE, LayerStream, TarFormatError, TarReader

from .images import Entry, layer_tar


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def header(
    name: bytes,
    typeflag: bytes = b"0",
    size: int = 0,
    linkname: bytes = b"",
    *,
    magic: bytes = b"ustar\x0000",
    fields: dict[int, bytes] | None = None,
    size_field: bytes | None = None,
    checksum: int | None = None,
) -> bytes:
    """One raw 512-byte header, checksum computed unless given."""
    block = bytearray(512)
    block[0 : len(name)] = name
    block[100:108] = b"0000644\x00"
    block[124:136] = size_field if size_field is not None else b"%011o\x00" % size
    block[136:148] = b"14000000000\x00"
    block[156:157] = typeflag
    block[157 : 157 + len(linkname)] = linkname
    block[257 : 257 + len(magic)] = magic
    for offset, value in (fields or {}).items():
        block[offset : offset + len(value)] = value
    block[148:156] = b" " * 8
    total = sum(block) if checksum is None else checksum
    block[148:156] = b"%06o\x00 " % total
    return bytes(block)


def body(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def pax(records: dict[str, str], typeflag: bytes = b"x") -> bytes:
    text = b""
    for key, value in records.items():
        record = f" {key}={value}\n".encode()
        length = len(record) + 1
        while length != len(record) + len(str(length)):  # the length counts its own digits
            length = len(record) + len(str(length))
        text += str(length).encode() + record
    return header(b"././@PaxHeader", typeflag, len(text)) + body(text)


END = bytes(1024)


def read(tar: bytes, *, wants: int | None = 1 << 20, compression: str = "none") -> LayerFiles:
    blob = {"gzip": lambda: gzip.compress(tar), "zstd": lambda: zstandard.ZstdCompressor().compress(tar)}.get(
        compression, lambda: tar
    )()
    files, digest, diff_id = read_layer(
        io.BytesIO(blob),
        index=0,
        wants=lambda _path: wants,
        limits=DEFAULT_LIMITS,
        expected_digest=sha(blob),
        expected_diff_id=sha(tar),
        what="layer",
    )
    assert (digest, diff_id) == (sha(blob), sha(tar))
    return files


def contents(files: LayerFiles) -> dict[str, bytes | str | None]:
    return {
        path: node.data if node.kind == "file" else f"{node.kind}->{node.target}"
        for path, node in files.nodes.items()
    }


# -- formats ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_long_names_and_link_names_in_each_format(fmt):
    long_dir = "usr/" + "d" * 90 + "/" + "e" * 40  # needs the ustar prefix, an L entry or a PAX path
    name = long_dir + "/lib/apk/db/installed"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        info = tarfile.TarInfo(name)
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
        if fmt != tarfile.USTAR_FORMAT:  # ustar cannot hold a 150-character link name
            link = tarfile.TarInfo("short-link")
            link.type, link.linkname = tarfile.SYMTYPE, "/" + name
            tar.addfile(link)
    files = read(buffer.getvalue())
    assert files.nodes[name].data == b"hello"
    if fmt != tarfile.USTAR_FORMAT:
        assert files.nodes["short-link"].target == "/" + name


def test_pax_headers_give_path_linkpath_size_and_unicode():
    data = b"x" * 700
    tar = (
        pax({"path": "etc/ünïcode-" + "n" * 200, "mtime": "1700000000.123456789"})
        + header(b"etc/truncated-name", size=len(data))
        + body(data)
        + pax({"linkpath": "../target/" + "t" * 150})
        + header(b"etc/link", b"2", linkname=b"short")
        + pax({"size": str(len(data))})
        + header(b"etc/big-by-pax", size_field=b"\x00" * 12)  # size only in the PAX header
        + body(data)
        + header(b"etc/after", size=3)
        + body(b"end")
        + END
    )
    files = contents(read(tar))
    assert files == {
        "etc/ünïcode-" + "n" * 200: data,
        "etc/link": "symlink->../target/" + "t" * 150,
        "etc/big-by-pax": data,
        "etc/after": b"end",
    }


def test_global_pax_header_applies_to_every_later_entry_and_x_overrides_it():
    tar = (
        pax({"comment": "made by a test", "linkpath": "global-target"}, b"g")
        + header(b"a", b"2", linkname=b"ignored")
        + pax({"linkpath": "own-target"})
        + header(b"b", b"2")
        + header(b"c", size=1)
        + body(b"c")
        + END
    )
    assert contents(read(tar)) == {"a": "symlink->global-target", "b": "symlink->own-target", "c": b"c"}


def test_gnu_long_name_then_pax_path_the_pax_path_wins():
    long_name = b"n" * 300
    tar = (
        header(b"././@LongLink", b"L", len(long_name) + 1, magic=b"ustar  \x00")
        + body(long_name + b"\x00")
        + pax({"path": "from-pax"})
        + header(b"short", size=2)
        + body(b"ok")
        + header(b"././@LongLink", b"L", len(long_name) + 1, magic=b"ustar  \x00")
        + body(long_name + b"\x00")
        + header(b"short", size=2, magic=b"ustar  \x00")
        + body(b"ok")
        + END
    )
    assert contents(read(tar)) == {"from-pax": b"ok", long_name.decode(): b"ok"}


def test_old_gnu_sparse_file_with_extension_blocks_is_skipped_and_the_next_entry_read():
    stored = b"s" * 1500
    sparse = header(b"var/lib/dpkg/status", b"S", len(stored), magic=b"ustar  \x00", fields={482: b"\x01"})
    extension1 = bytearray(512)
    extension1[504] = 1  # another extension block follows
    extension2 = bytes(512)
    tar = (
        sparse
        + bytes(extension1)
        + extension2
        + body(stored)
        + header(b"etc/os-release", size=9)
        + body(b"ID=debian")
        + END
    )
    files = read(tar)
    assert contents(files) == {"etc/os-release": b"ID=debian"}
    assert any("sparse" in w for w in files.warnings)


def test_pax_sparse_file_is_skipped_under_its_real_name():
    stored = b"1\n0\n4\nabcd" + bytes(500)
    tar = (
        pax({"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "var/lib/rpm/rpmdb.sqlite"})
        + header(b"./GNUSparseFile.0/rpmdb.sqlite", size=len(stored))
        + body(stored)
        + header(b"after", size=1)
        + body(b"a")
        + END
    )
    files = read(tar)
    assert contents(files) == {"after": b"a"}
    assert any("rpmdb.sqlite (a sparse file" in w for w in files.warnings)


@pytest.mark.parametrize("typeflag", [b"D", b"V", b"X", b"Z", b"M"])
def test_unknown_and_vendor_types_have_their_bodies_skipped(typeflag):
    junk = b"\xff" * 1300  # would be a bad header if it were not skipped
    tar = header(b"odd", typeflag, len(junk)) + body(junk) + header(b"next", size=4) + body(b"next") + END
    assert contents(read(tar)) == {"next": b"next"}


def test_header_only_types_ignore_their_size_field():
    tar = header(b"dir", b"5", 512) + header(b"fifo", b"6", 512) + header(b"f", size=1) + body(b"f") + END
    files = read(tar)
    assert contents(files) == {"f": b"f"}
    assert files.dirs == {"dir"}


def test_base256_size_signed_checksum_and_v7_directories():
    data = b"b" * 600
    size_field = b"\x80" + (len(data)).to_bytes(11, "big")
    high = {100: b"\xe9"}  # a byte >= 128 in the header: signed and unsigned sums differ
    plain = header(b"signed", size=1, fields=high)
    unsigned_sum = sum(plain[:148]) + 256 + sum(plain[156:])
    signed = unsigned_sum - 256
    tar = (
        header(b"base256", size_field=size_field)
        + body(data)
        + header(b"signed", size=1, fields=high, checksum=signed)
        + body(b"s")
        + header(b"old-dir/", b"\x00", magic=b"\x00" * 6)
        + END
    )
    files = read(tar)
    assert files.nodes["base256"].data == data
    assert files.nodes["signed"].data == b"s"
    assert files.dirs == {"old-dir"}


def test_chunk_boundaries_anywhere_give_the_same_entries():
    tar = layer_tar(
        [
            Entry("etc", kind="dir"),
            ("etc/os-release", "ID=alpine\n" * 40),
            Entry("etc/link", kind="symlink", target="os-release"),
            ("lib/apk/db/installed", "P:musl\nV:1\n" * 300),
            ("u" * 180 + "/file", b"z" * 5000),
        ]
    )
    expected = _entries([tar])
    for size in (1, 7, 511, 512, 513, 4096, 100_000):
        chunks = [tar[i : i + size] for i in range(0, len(tar), size)]
        assert _entries(chunks) == expected


def _entries(chunks: list[bytes]) -> list[tuple[str, str, int, bytes | str]]:
    reader = TarReader(iter(chunks))
    found: list[tuple[str, str, int, bytes | str]] = []
    for entry in reader.entries():
        content: bytes | str = reader.read_body() if entry.kind in (FILE, SPARSE) else entry.linkname
        found.append((entry.name, entry.kind, entry.size, content))
    return found


def test_data_after_the_end_of_archive_is_hashed_into_the_diff_id():
    tar = header(b"a", size=1) + body(b"a") + END + b"trailing bytes that are not entries"
    assert contents(read(tar, compression="gzip")) == {"a": b"a"}


def test_multi_member_gzip_and_zero_padding_are_read_like_gzip_does():
    tar = header(b"a", size=3000) + body(b"a" * 3000) + header(b"b", size=2) + body(b"bb") + END
    blob = gzip.compress(tar[:1000]) + gzip.compress(tar[1000:]) + bytes(100)
    files, _, diff_id = read_layer(
        io.BytesIO(blob),
        index=0,
        wants=lambda _p: 1 << 20,
        limits=DEFAULT_LIMITS,
        expected_digest=sha(blob),
        expected_diff_id=None,
        what="layer",
    )
    assert diff_id == sha(tar)
    assert contents(files) == {"a": b"a" * 3000, "b": b"bb"}


def test_zstd_layer():
    tar = header(b"a", size=1) + body(b"a") + END
    assert contents(read(tar, compression="zstd")) == {"a": b"a"}


def test_bounded_decompression_steps_for_a_gzip_bomb():
    tar = header(b"zeros", size=64 * 1024 * 1024) + bytes(64 * 1024 * 1024) + END
    blob = gzip.compress(tar, compresslevel=9)
    stream = LayerStream(io.BytesIO(blob), what="bomb", max_blob_bytes=1 << 30, max_layer_bytes=1 << 30)
    try:
        sizes = {len(chunk) for chunk in stream.chunks()}
    finally:
        stream.close()
    assert max(sizes) <= 256 * 1024
    assert stream.layer_bytes == len(tar)
    assert (stream.digest, stream.diff_id) == (sha(blob), sha(tar))  # hashed in batches, in order


# -- damage ----------------------------------------------------------------------------------------


def _damaged(tar: bytes, match: str, compression: str = "none") -> None:
    with pytest.raises(ScanError, match=match):
        read(tar, compression=compression)


def test_bad_checksum_is_refused():
    good = header(b"a", size=1)
    bad = good[:148] + b"0000001\x00" + good[156:]
    _damaged(bad + body(b"a") + END, "bad header checksum")
    _damaged(header(b"a", size=1) + body(b"a") + bad + body(b"a") + END, "bad header checksum")


def test_truncated_header_is_refused():
    tar = header(b"a", size=1) + body(b"a") + header(b"b", size=1)[:300]
    _damaged(tar, "truncated header")
    _damaged(tar, "truncated header", compression="gzip")


def test_truncated_body_is_refused():
    tar = header(b"a", size=5000) + b"x" * 1000
    _damaged(tar, "unexpected end of data")
    with pytest.raises(ScanError, match="unexpected end of data"):
        read(tar, wants=None)  # even when the body is only skipped


def test_archive_ending_after_an_extension_header_is_refused():
    _damaged(pax({"path": "a"}), "ends after an extension header")


def test_malformed_and_oversized_pax_headers_are_refused():
    broken = b"99 path=a\n"
    _damaged(header(b"p", b"x", len(broken)) + body(broken) + header(b"a") + END, "malformed PAX")
    huge = 2 * 1024 * 1024
    _damaged(header(b"p", b"x", huge) + bytes(huge) + END, "PAX header of")
    _damaged(pax({"size": "12abc"}) + header(b"a") + END, "invalid PAX size")


def test_invalid_number_fields_are_refused():
    _damaged(header(b"a", size_field=b"12x45\x00      ") + END, "invalid size")


def test_empty_stream_is_not_a_layer():
    _damaged(b"", "empty")
    _damaged(END, "empty archive")


def test_gzip_with_trailing_garbage_is_refused():
    tar = header(b"a", size=1) + body(b"a") + END
    blob = gzip.compress(tar) + b"garbage!"
    with pytest.raises(ScanError, match="not a readable"):
        read_layer(
            io.BytesIO(blob),
            index=0,
            wants=lambda _p: None,
            limits=DEFAULT_LIMITS,
            expected_digest=None,
            expected_diff_id=None,
            what="layer",
        )


def test_decompressed_size_is_capped_while_streaming():
    tar = header(b"zeros", size=8 * 1024 * 1024) + bytes(8 * 1024 * 1024) + END
    with pytest.raises(ScanError, match="larger than the limit"):
        read_layer(
            io.BytesIO(gzip.compress(tar)),
            index=0,
            wants=lambda _p: None,
            limits=Limits(max_layer_bytes=1024 * 1024),
            expected_digest=None,
            expected_diff_id=None,
            what="layer",
        )


def test_tar_format_error_is_a_value_error_for_callers_of_the_reader():
    def chunks() -> Iterator[bytes]:
        yield b"\x01" * 512

    with pytest.raises(TarFormatError):
        list(TarReader(chunks()).entries())


def test_truncated_zstd_layer_fails_the_scan():
    # zstandard's stream reader ends quietly on a cut frame; the diff id (always known in a scan)
    # catches what is missing
    tar = header(b"a", size=300_000) + body(bytes(range(256)) * 1171 + b"x" * 224) + END
    blob = zstandard.ZstdCompressor().compress(tar)
    with pytest.raises(ScanError, match=r"image config says|not a readable"):
        read_layer(
            io.BytesIO(blob[: len(blob) // 2]),
            index=0,
            wants=lambda _p: None,
            limits=DEFAULT_LIMITS,
            expected_digest=None,
            expected_diff_id=sha(tar),
            what="layer",
        )
