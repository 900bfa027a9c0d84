"""Readers that hash, count and cap bytes as they pass, so nothing is trusted or unbounded."""

from __future__ import annotations

import hashlib
import io
import re
from typing import Protocol

from scanning.engine.errors import ScanError

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
CHUNK = 1024 * 1024


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def check_digest(digest: str) -> str:
    """Only sha256 digests are accepted; anything else could not be verified."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise ScanError(f"unsupported or malformed digest {str(digest)[:80]!r} (only sha256 is accepted)")
    return digest


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class HashingReader(io.RawIOBase):
    """Passes bytes through while hashing and counting them; refuses to go past ``limit``.

    ``verify()`` drains what is left and compares the digest: call it once the consumer is done, so
    a blob is only trusted after every byte of it was seen.
    """

    def __init__(self, raw: Readable, *, what: str, limit: int, expected: str | None = None) -> None:
        super().__init__()
        self._raw = raw
        self._what = what
        self._limit = limit
        self._expected = expected
        self._hash = hashlib.sha256()
        self.count = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        n = len(data)
        memoryview(buffer)[:n] = data
        return n

    def read(self, size: int | None = -1) -> bytes:
        if self._eof:
            return b""
        want = CHUNK if size is None or size < 0 else size
        data = self._raw.read(want)
        if not data:
            self._eof = True
            return b""
        self.count += len(data)
        if self.count > self._limit:
            raise ScanError(f"{self._what} is larger than the limit of {self._limit} bytes")
        self._hash.update(data)
        return data

    def readall(self) -> bytes:
        chunks = []
        while chunk := self.read(CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def verify(self) -> str:
        self.drain()
        if self._expected is not None and self.digest != self._expected:
            raise ScanError(
                f"{self._what}: digest mismatch, expected {self._expected} but the content hashes to {self.digest}"
            )
        return self.digest


def read_capped(stream: Readable, limit: int, what: str) -> bytes:
    """Read a whole stream that must not exceed ``limit`` bytes."""
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(min(CHUNK, limit + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise ScanError(f"{what} is larger than the limit of {limit} bytes")
    return b"".join(chunks)
