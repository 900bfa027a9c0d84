"""Digests and capped reads, so nothing is trusted or unbounded (layers: see ``tarstream.py``)."""

from __future__ import annotations

import hashlib
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
