"""The image scanning engine: pure Python, no Django. ``scanning/tasks.py`` is its only caller.

    with open_source(path_or_reference) as source:
        [inventory] = scan_source(source, platform=Platform.parse("linux/amd64"))
    findings = AdvisoryIndex(advisories).match(inventory.components, overrides={...})
    bom = to_cyclonedx(inventory)

Every problem with the input raises ``ScanError`` with a reason fit to show the publisher.
"""

from scanning.engine.errors import ScanError
from scanning.engine.limits import DEFAULT_LIMITS, Limits
from scanning.engine.model import (
    Component,
    Finding,
    FixState,
    ImageInfo,
    Inventory,
    Layer,
    OSInfo,
    Platform,
    Score,
    Severity,
)
from scanning.engine.osv import Advisory, AdvisoryIndex, OSVError, load_advisory, parse_advisory
from scanning.engine.sbom import to_cyclonedx
from scanning.engine.scan import scan_path, scan_source
from scanning.engine.scoring import classify, score_vector
from scanning.engine.sources import ImageSource, LocalImageSource, open_source

__all__ = [
    "DEFAULT_LIMITS",
    "Advisory",
    "AdvisoryIndex",
    "Component",
    "Finding",
    "FixState",
    "ImageInfo",
    "ImageSource",
    "Inventory",
    "Layer",
    "Limits",
    "LocalImageSource",
    "OSInfo",
    "OSVError",
    "Platform",
    "ScanError",
    "Score",
    "Severity",
    "classify",
    "load_advisory",
    "open_source",
    "parse_advisory",
    "scan_path",
    "scan_source",
    "score_vector",
    "to_cyclonedx",
]
