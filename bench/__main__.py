"""Runs every benchmark module under bench/ (``make bench``).

Each module named ``bench_*.py`` exposes ``run() -> list[dict]``; each row names a measurement, its
figure and the baseline measured in the same run, so results read as ratios, not raw timings
that differ from machine to machine. Django is set up first, on the dedicated ``store_bench``
database (see ``bench/database.py``).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from bench import database


def main() -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")
    )
    if not names:
        print("No benchmarks yet.")
        return 0
    database.setup()
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}")
        for row in module.run():
            print("  " + "  ".join(f"{key}={value}" for key, value in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
