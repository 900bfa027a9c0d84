"""CVSS base scores from vectors (the ``cvss`` library, never by hand) and the store's severity classes."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import cvss

from scanning.engine.model import Score, Severity

# Which severity entry to trust when a record has several: v3.x is what the store's table was written
# for and what most feeds carry; v4.0 next; v2 only when nothing newer exists.
_PREFERENCE = {"CVSS_V3": 0, "CVSS_V4": 1, "CVSS_V2": 2}


class ScoreError(ValueError):
    """A vector the ``cvss`` library refuses."""


@lru_cache(maxsize=65536)
def score_vector(vector: str) -> Score:
    """The base score of a CVSS v2, v3.x or v4.0 vector (cached: feeds repeat a few thousand vectors)."""
    vector = vector.strip()
    try:
        if vector.startswith("CVSS:4.0/"):
            return Score("4.0", vector, float(cvss.CVSS4(vector).base_score))
        if vector.startswith("CVSS:3."):
            return Score(vector[5:8], vector, float(cvss.CVSS3(vector).base_score))
        return Score("2.0", vector, float(cvss.CVSS2(vector).base_score))
    except cvss.CVSSError as exc:
        raise ScoreError(f"invalid CVSS vector {vector!r}: {exc}") from None


def cvss3_scores(vector: str) -> tuple[float, float, float]:
    """Base, temporal and environmental scores of a v3.x vector."""
    try:
        base, temporal, environmental = cvss.CVSS3(vector).scores()
    except cvss.CVSSError as exc:
        raise ScoreError(f"invalid CVSS vector {vector!r}: {exc}") from None
    return float(base), float(temporal), float(environmental)


def best_score(severities: Iterable[tuple[str, str]]) -> Score | None:
    """The preferred valid score among OSV ``severity[]`` entries given as (type, vector)."""
    candidates = sorted(
        ((kind, vector) for kind, vector in severities if kind in _PREFERENCE),
        key=lambda kv: _PREFERENCE[kv[0]],
    )
    for _, vector in candidates:
        try:
            return score_vector(vector)
        except ScoreError:
            continue
    return None


def classify(score: float | None, override: Severity | None = None) -> Severity:
    """The store's table: 7.0-10.0 Critical, 4.0-6.9 Major, 0.1-3.9 Minor; no score is Unknown.

    A security-team override wins over the score. A 0.0 base score is not in the table: CVSS rates
    it "None" (no impact), so it gets ``Severity.NONE`` rather than Minor; it is still a score, so
    not Unknown either. CVSS scores are rounded up to one decimal, so nothing lies between 0.0 and 0.1.
    """
    if override is not None:
        return override
    if score is None:
        return Severity.UNKNOWN
    if score >= 7.0:
        return Severity.CRITICAL
    if score >= 4.0:
        return Severity.MAJOR
    if score >= 0.1:
        return Severity.MINOR
    return Severity.NONE
