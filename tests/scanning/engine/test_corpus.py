"""The engine against other scanners' expected results (the shared corpus, when present)."""

from __future__ import annotations

from scanning.engine.validate import main, run


def test_every_validation_row_agrees(corpus, capsys):
    rows = run(corpus)
    failed = [r for r in rows if not r.ok]
    assert not failed, failed
    cases = {r.case for r in rows}
    assert "trivy alpine 3.11 image: packages" in cases
    assert "apk-tools version table" in cases


def test_validate_command_exits_zero_and_prints_a_table(corpus, capsys):
    assert main([str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "19 of 19 rows agree" in out or "rows agree" in out


def test_validate_command_refuses_a_missing_folder(tmp_path):
    assert main([str(tmp_path / "missing")]) == 2
