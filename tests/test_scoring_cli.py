"""Tests for cxcore.scoring.cli: the `cxcore score` subcommand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cxcore.cli import main

CSV = (
    "metric,score,store,touchpoint,answered_at\n"
    + "nps,10,A,web,2026-03-02T10:00:00Z\n" * 50
    + "nps,8,A,web,2026-03-02T10:00:00Z\n" * 30
    + "nps,0,A,web,2026-03-09T10:00:00Z\n" * 20
    + "nps,3,B,app,2026-03-09T10:00:00Z\n"
    + "csat,5,B,app,2026-03-09T10:00:00Z\n"
    + "nps,,B,app,2026-03-09T10:00:00Z\n"
)


@pytest.fixture
def answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


class TestScoreCommand:
    def test_json_by_store(self, answers: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """JSON output: one object per cell, with n, score, low, high and the group keys."""
        assert (
            main(["score", str(answers), "--metric", "nps", "--by", "store", "--format", "json"])
            == 0
        )
        cells = json.loads(capsys.readouterr().out)
        assert [c["store"] for c in cells] == ["A", "B"]
        a = cells[0]
        assert a["n"] == 100
        assert a["score"] == 30.0
        assert (round(a["low"], 2), round(a["high"], 2)) == (14.05, 44.2)
        assert cells[1]["low_n"] is True

    def test_weekly_csv_and_wald(self, answers: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """CSV output with a period column; --interval chooses the method."""
        assert (
            main(
                [
                    "score",
                    str(answers),
                    "--metric",
                    "nps",
                    "--every",
                    "week",
                    "--interval",
                    "wald",
                    "--format",
                    "csv",
                ]
            )
            == 0
        )
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "period,metric,n,score,low,high,low_n"
        assert lines[1].startswith("2026-03-02,nps,80,62.5,")
        assert lines[2].startswith("2026-03-09,nps,21,")

    def test_table(self, answers: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The table format aligns columns and prints scores to one decimal."""
        assert main(["score", str(answers), "--metric", "csat", "--by", "store,touchpoint"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].split() == [
            "store",
            "touchpoint",
            "metric",
            "n",
            "score",
            "low",
            "high",
            "low_n",
        ]
        assert out[1].split()[:5] == ["A", "web", "csat", "0", "-"]
        assert out[2].split()[:5] == ["B", "app", "csat", "1", "100.0"]

    def test_parquet_and_renamed_columns(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Parquet input, with the metric and score columns renamed by options."""
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        path = tmp_path / "answers.parquet"
        pq.write_table(pa.table({"kind": ["ces", "ces", "ces"], "value": [7, 6, 2]}), path)
        argv = [
            "score",
            str(path),
            "--metric",
            "ces",
            "--metric-column",
            "kind",
            "--score-column",
            "value",
            "--format",
            "json",
        ]
        assert main(argv) == 0
        cells = json.loads(capsys.readouterr().out)
        assert cells[0]["score"] == pytest.approx(200 / 3)


class TestBadInput:
    def test_invalid_rows_exit_1_numbered_as_lines_in_order(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Bad rows: exit 1, each named by its line as an editor shows it, in ascending order."""
        path = tmp_path / "bad.csv"
        path.write_text("metric,score\nnps,x\nnsp,5\nnps,11\ncsat,zz\n", encoding="utf-8")
        assert main(["score", str(path), "--metric", "nps"]) == 1
        assert capsys.readouterr().err == (
            f"cxcore score: error: {path} is invalid (4 problems):\n"
            "  row 2, column 'score': 'x' is not a whole number\n"
            "  row 3, column 'metric': unknown metric 'nsp' (did you mean 'nps'?); registered metrics are: ces, csat, nps, rating, rating3\n"
            "  row 4, column 'score': 11 is not on the nps scale (expected a whole number from 0 to 10)\n"
            "  row 5, column 'score': 'zz' is not a whole number\n"
        )

    def test_drop_invalid_reports(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--drop-invalid scores the rest and reports how many rows were dropped and why."""
        path = tmp_path / "bad.csv"
        path.write_text("metric,score\nnps,11\nnsp,5\nnps,10\n", encoding="utf-8")
        assert (
            main(["score", str(path), "--metric", "nps", "--drop-invalid", "--format", "json"]) == 0
        )
        captured = capsys.readouterr()
        assert (
            "dropped 2 invalid rows: 1 score is outside the scale, 1 unknown metric 'nsp'"
            in captured.err
        )
        assert json.loads(captured.out)[0]["n"] == 1

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--metric", "nps", "--by", "agent"], "answers.csv has no column 'agent'"),
            (
                ["--metric", "nps", "--by", "store,touchpont"],
                "answers.csv has no column 'touchpont' (did you mean 'touchpoint'?)",
            ),
            (["--metric", "nsp"], "unknown metric 'nsp' (did you mean 'nps'?)"),
            (["--metric", "wow"], "unknown metric 'wow'"),
            (["--metric", "nps", "--interval", "t"], "does not apply"),
        ],
    )
    def test_errors(
        self, answers: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
    ) -> None:
        """Bad options give exit code 2 and a one-line reason."""
        assert main(["score", str(answers), *argv]) == 2
        assert message in capsys.readouterr().err

    def test_option_values_are_checked_by_the_parser(
        self, answers: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An offset, confidence or count that is not one: usage error, exit 2, the option named."""
        for option, value, message in [
            ("--utc-offset", "IST", "'IST' is not an offset"),
            ("--confidence", "95", "'95' is not a confidence level between 0 and 1"),
            ("--min-n", "-3", "'-3' is not a whole number of 0 or more"),
        ]:
            with pytest.raises(SystemExit) as exited:
                main(["score", str(answers), "--metric", "nps", option, value])
            assert exited.value.code == 2
            assert f"argument {option}: {message}" in capsys.readouterr().err

    def test_missing_and_unknown_files(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A missing file, or one that is neither CSV nor Parquet, exits 2."""
        assert main(["score", str(tmp_path / "none.csv"), "--metric", "nps"]) == 2
        other = tmp_path / "a.txt"
        other.write_text("x", encoding="utf-8")
        assert main(["score", str(other), "--metric", "nps"]) == 2
        err = capsys.readouterr().err
        assert "none.csv: cannot open: No such file or directory" in err
        assert "has suffix '.txt' (expected .csv or .parquet)" in err

    def test_utc_offset(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--utc-offset moves an answer at 20:00 UTC into the next IST day."""
        path = tmp_path / "late.csv"
        path.write_text("metric,score,answered_at\nnps,10,2026-03-01T20:00:00Z\n", encoding="utf-8")
        assert (
            main(
                [
                    "score",
                    str(path),
                    "--metric",
                    "nps",
                    "--every",
                    "day",
                    "--utc-offset",
                    "+05:30",
                    "--format",
                    "json",
                ]
            )
            == 0
        )
        assert json.loads(capsys.readouterr().out)[0]["period"] == "2026-03-02"
