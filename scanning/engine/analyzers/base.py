"""The analyzer interface and what an analyzer finds."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from scanning.engine.layers import FileSystem
from scanning.engine.limits import Limits
from scanning.engine.model import OSInfo


@dataclass(frozen=True)
class FoundPackage:
    name: str
    version: str
    source_name: str
    source_version: str
    package_type: str
    path: str
    layer: int  # index of the layer that last wrote ``path``
    arch: str = ""
    licenses: tuple[str, ...] = ()
    epoch: int | None = None  # rpm only, for the package URL
    release: str = ""  # rpm only


class Analyzer(ABC):
    package_type: str = ""
    # A package database holds many packages: attribute each to the lowest layer whose copy of the
    # database already lists it (Trivy lookupOriginLayerForPkg, Clair IntroducedIn). Per-package
    # files (METADATA, package.json) are attributed to the layer of the file itself.
    database = False

    @abstractmethod
    def wants(self, path: str, limits: Limits) -> int | None:
        """How many bytes of ``path`` to read, or None if this analyzer does not need it."""

    @abstractmethod
    def parse(self, path: str, data: bytes, layer: int, os: OSInfo | None) -> Iterable[FoundPackage]:
        """The packages in one file (databases yield them one by one, so the caller can stop early)."""

    def analyze(self, fs: FileSystem, os: OSInfo | None, limits: Limits) -> Iterator[FoundPackage]:
        for path, node in sorted(fs.files()):
            if node.data is not None and self.wants(path, limits) is not None:
                yield from self.parse(path, node.data, node.layer, os)


def text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def lines(content: str) -> Iterator[str]:
    """The lines of ``content`` one at a time, ``\n`` or ``\r\n`` ended.

    ``str.splitlines`` would build every line at once, and ``io.StringIO`` would copy the text
    into four bytes a character: on a 32 MiB database either costs several times the file.
    """
    start, size = 0, len(content)
    while start < size:
        end = content.find("\n", start)
        if end < 0:
            end = size
        yield content[start:end].rstrip("\r")
        start = end + 1
