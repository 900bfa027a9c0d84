"""Caps that keep memory and time bounded whatever the image claims about itself."""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """Every number the engine refuses to go beyond. The defaults suit real images up to many GB."""

    max_json_bytes: int = 4 * MiB  # manifests, indexes, configs
    max_layers: int = 500  # Docker's own limit is 127 with overlayfs
    max_manifests: int = 1000  # entries in an index
    max_layer_bytes: int = 16 * GiB  # decompressed bytes of one layer (gzip bomb)
    max_blob_bytes: int = 16 * GiB  # compressed bytes of one blob as stored
    max_entries_per_layer: int = 2_000_000
    max_file_bytes: int = 64 * MiB  # one file read into memory (package databases)
    max_small_file_bytes: int = 1 * MiB  # one package.json / METADATA
    max_total_file_bytes: int = 256 * MiB  # all files held in memory at once
    max_symlink_hops: int = 40  # like Linux's MAXSYMLINKS


DEFAULT_LIMITS = Limits()
