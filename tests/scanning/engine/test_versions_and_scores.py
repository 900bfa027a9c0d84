"""Version order per ecosystem, CVSS scores and the store's severity classes."""

from __future__ import annotations

import pytest

from scanning.engine import apkversion
from scanning.engine.model import Severity
from scanning.engine.scoring import ScoreError, best_score, classify, score_vector
from scanning.engine.versions import VersionError, compare


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.2.4_git20230717-r4", "1.2.4_git20230717-r5", -1),  # the real musl fix version
        ("1.2.4_git20230717-r5", "1.2.4-r5", 1),  # a post-release suffix sorts after
        ("1.2.4_rc1", "1.2.4", -1),  # a pre-release suffix sorts before
        ("1.0~1234", "1.0~2345", -1),
        ("1.01", "1.1", -1),  # leading zero: string order
        ("2.34", "0.1.0_alpha", 1),
    ],
)
def test_alpine_order(a, b, expected):
    assert compare("Alpine:v3.19", a, b) == expected
    assert apkversion.compare(b, a) == -expected


def test_alpine_rejects_invalid_versions():
    assert not apkversion.is_valid("1.0-r")
    with pytest.raises(VersionError):
        compare("Alpine:v3.19", "1.0_foobar", "1.0")


@pytest.mark.parametrize(
    ("ecosystem", "a", "b", "expected"),
    [
        ("Debian:12", "1:1.0-1", "2.0-1", 1),  # epoch wins
        ("Debian:12", "1.0~rc1-1", "1.0-1", -1),  # tilde sorts before anything
        ("Ubuntu:22.04", "2.27-3ubuntu1", "2.27-3ubuntu1.1", -1),
        ("Rocky Linux:9", "1.0^git1-1", "1.0-1", 1),  # caret sorts after
        ("AlmaLinux:9", "1:3.0.7-27.el9", "3.0.8-1.el9", 1),
        ("PyPI", "2.0rc1", "2.0", -1),
        ("PyPI", "1.0.post1", "1.0", 1),
        ("npm", "1.0.0-alpha", "1.0.0", -1),
        ("npm", "1.10.0", "1.9.0", 1),
    ],
)
def test_other_ecosystems(ecosystem, a, b, expected):
    assert compare(ecosystem, a, b) == expected


def test_unknown_ecosystem_is_an_error():
    with pytest.raises(VersionError):
        compare("Hackage", "1", "2")


def test_scores_from_vectors():
    assert score_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").base_score == 9.8
    assert score_vector("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N").base_score == 9.3
    with pytest.raises(ScoreError):
        score_vector("CVSS:3.1/AV:X")


def test_best_score_prefers_v3_then_v4_and_skips_broken_vectors():
    v3 = "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:H/A:H"
    v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    assert best_score([("CVSS_V4", v4), ("CVSS_V3", v3)]).version == "3.1"
    assert best_score([("CVSS_V3", "garbage"), ("CVSS_V4", v4)]).version == "4.0"
    assert best_score([]) is None


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (10.0, Severity.CRITICAL),
        (7.0, Severity.CRITICAL),
        (6.9, Severity.MAJOR),
        (4.0, Severity.MAJOR),
        (3.9, Severity.MINOR),
        (0.1, Severity.MINOR),
        (0.0, Severity.NONE),
        (None, Severity.UNKNOWN),
    ],
)
def test_store_severity_table(score, expected):
    assert classify(score) == expected


def test_a_zero_base_score_is_rated_none_not_minor():
    # C, I and A all None: CVSS 3.1 gives 0.0, outside the store's 0.1-3.9 Minor row
    score = score_vector("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N")
    assert score.base_score == 0.0
    assert classify(score.base_score) == Severity.NONE
    assert classify(score.base_score, Severity.MAJOR) == Severity.MAJOR


def test_security_team_override_wins_over_the_score():
    assert classify(9.8, Severity.MINOR) == Severity.MINOR
    assert classify(None, Severity.CRITICAL) == Severity.CRITICAL
