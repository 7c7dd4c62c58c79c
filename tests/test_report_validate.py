"""`satqkd validate` figures: verdicts, and no ratios of dB values (issue 14)."""

import math

from satqkd.mission.validate import Figure, _gap_verdict


def test_db_figures_compare_by_difference_not_ratio():
    f = Figure("x", "summed loss", "dB", 64.0, 43.4, "src", "explained", "gap")
    assert math.isnan(f.ratio)
    assert f.comparison == "-20.6 dB"
    g = Figure("x", "rate", "bit/s", 12e3, 160e3, "src")
    assert g.comparison == "x 13.33"


def test_gap_verdict_explains_the_documented_12_db():
    verdict, reason = _gap_verdict(13.3)
    assert verdict == "explained" and "12 dB" in reason
    assert _gap_verdict(-22.0, db=True, per_link=2)[0] == "explained"
    assert _gap_verdict(1.0)[0] == "differs"


def test_validate_prints_verdicts_and_db_differences(monkeypatch):
    from typer.testing import CliRunner

    import satqkd.mission.validate as v
    from satqkd.cli import app

    figs = [Figure("E", "summed loss, lowest", "dB", 64.0, 43.4, "Yin",
                   *_gap_verdict(43.4 - 64.0, db=True, per_link=2))]
    monkeypatch.setattr(v, "run_validations", lambda progress=None: figs)
    res = CliRunner().invoke(app, ["validate", "-q"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "-20.6 dB" in res.output and "explained" in res.output and "ratio" not in res.output
