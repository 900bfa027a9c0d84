"""Analyzers: each names the files it needs and turns them into packages."""

from __future__ import annotations

from scanning.engine.analyzers.apk import ApkAnalyzer
from scanning.engine.analyzers.base import Analyzer, FoundPackage
from scanning.engine.analyzers.dpkg import DpkgAnalyzer
from scanning.engine.analyzers.npm import NpmAnalyzer
from scanning.engine.analyzers.osrelease import OS_FILES, detect_os
from scanning.engine.analyzers.python import PythonAnalyzer
from scanning.engine.analyzers.rpm import RpmAnalyzer

__all__ = [
    "OS_FILES",
    "Analyzer",
    "ApkAnalyzer",
    "DpkgAnalyzer",
    "FoundPackage",
    "NpmAnalyzer",
    "PythonAnalyzer",
    "RpmAnalyzer",
    "default_analyzers",
    "detect_os",
]


def default_analyzers() -> list[Analyzer]:
    return [ApkAnalyzer(), DpkgAnalyzer(), RpmAnalyzer(), PythonAnalyzer(), NpmAnalyzer()]
