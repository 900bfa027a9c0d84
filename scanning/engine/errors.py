"""The one exception the engine raises for anything wrong with its input."""

from __future__ import annotations


class ScanError(Exception):
    """The image could not be scanned; ``reason`` says why in words a publisher can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason
