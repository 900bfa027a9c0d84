"""Caps that keep memory and time bounded whatever the image claims about itself.

Memory of a scan: what is held is the wanted files (at most ``max_total_file_bytes``, hard links
counted like copies), the packages found (at most ``max_packages``, of at most ``max_name_chars`` per field), one
database being parsed (at most ``max_file_bytes``, with sqlite's copy of an rpmdb) and a few MiB
of decompression and hashing buffers. The defaults keep that under 300 MB whatever the image
(``bench/bench_scan.py`` measures hostile images too), with room to spare for real ones: a dpkg
status of 2,500 packages is about 3 MiB, an rpmdb.sqlite of 500 packages about 25 MiB.
"""

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
    max_file_bytes: int = 32 * MiB  # one file read into memory (package databases)
    max_small_file_bytes: int = 1 * MiB  # one package.json / METADATA
    max_total_file_bytes: int = 96 * MiB  # all files held in memory or parsed, hard links included
    max_packages: int = 25_000  # components of one image, and packages listed by one database
    max_name_chars: int = 256  # a package name, version or source longer than this is skipped
    max_archive_entries: int = 100_000  # members of a docker save / OCI layout tar (not of a layer)
    max_symlink_hops: int = 40  # like Linux's MAXSYMLINKS


DEFAULT_LIMITS = Limits()
