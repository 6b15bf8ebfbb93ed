"""Tests for cxcore.scoring.frame: building ResponseFrames, the counting policy and exports."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cxcore.errors import CxError
from cxcore.model import CesQuestion, NpsQuestion, RatingQuestion, Response, Survey, TextQuestion
from cxcore.scoring import Dimension, ResponseFrame, ScoreInputError, score
from cxcore.scoring.cells import GroupValue

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

SURVEY = Survey(
    id="visit",
    title={"en": "Your visit"},
    questions=[
        NpsQuestion(id="ltr", text={"en": "Recommend us?"}),
        CesQuestion(id="effort", text={"en": "Easy?"}, direction="lower_is_better"),
        RatingQuestion(id="staff", text={"en": "Staff?"}),
        TextQuestion(id="why", text={"en": "Why?"}),
    ],
)


def response(rid: str, answers: dict[str, object], **kw: object) -> Response:
    fields: dict[str, object] = {
        "id": rid,
        "survey_id": "visit",
        "survey_version": 1,
        "answers": answers,
        "status": "complete",
        "respondent": "customer",
        "customer_id": "C1",
        "channel": "email",
        "idempotency_key": rid,
        "started_at": T0,
        "updated_at": T0,
        "completed_at": T0,
        "context": {"store": "BLR-01", "touchpoint": "billing"},
    }
    fields.update(kw)
    return Response(**fields)  # type: ignore[arg-type]


class TestFromColumns:
    def test_encodes_and_sorts(self) -> None:
        """Metric and dimensions are dictionary-encoded with sorted values; None sorts last."""
        frame = ResponseFrame.from_columns(
            {"metric": ["nps", "csat", "nps"], "score": [9, 4, 0], "store": ["B", None, "A"]}
        )
        assert frame.metrics == ("csat", "nps")
        assert frame.dimensions["store"].values == ("A", "B", None)
        assert frame.dimensions["store"].codes.tolist() == [1, 2, 0]
        assert frame.scores.tolist() == [9, 4, 0]

    def test_blank_scores_are_skipped_not_zero(self) -> None:
        """A blank score is an unanswered question: not counted, and reported as skipped."""
        frame = ResponseFrame.from_columns(
            {"metric": ["nps", "nps", "nps"], "score": np.array(["10", "", "NA"], dtype=object)}
        )
        assert len(frame) == 1
        assert frame.skipped == 2
        assert score(frame, "nps")[0].score == 100.0

    def test_float_scores(self) -> None:
        """Whole floats are accepted; NaN is unanswered."""
        frame = ResponseFrame.from_columns(
            {"metric": ["csat"] * 3, "score": np.array([4.0, np.nan, 5.0])}
        )
        assert frame.scores.tolist() == [4, 5]
        assert frame.skipped == 1

    def test_errors_name_row_column_value(self) -> None:
        """Off-scale, non-numeric and unknown-metric rows are all listed, by row and column."""
        with pytest.raises(ScoreInputError) as info:
            ResponseFrame.from_columns(
                {
                    "metric": ["nps", "nps", "nsp", "csat", "nps"],
                    "score": np.array(["11", "abc", "5", "4.5", "7"], dtype=object),
                },
                source="answers.csv",
            )
        text = str(info.value)
        assert "answers.csv is invalid (4 problems)" in text
        assert (
            "row 1, column 'score': 11 is not on the nps scale (expected a whole number from 0 to 10)"
            in text
        )
        assert "row 2, column 'score': 'abc' is not a whole number" in text
        assert "row 3, column 'metric': unknown metric 'nsp'" in text
        assert "row 4, column 'score': '4.5' is not a whole number" in text

    def test_drop_invalid_counts_reasons(self) -> None:
        """With invalid='drop', bad rows are left out and counted per reason."""
        frame = ResponseFrame.from_columns(
            {"metric": ["nps", "nps", "nsp", "nps"], "score": [11, 12, 5, 7]}, invalid="drop"
        )
        assert len(frame) == 1
        assert frame.dropped == {"score is outside the scale": 2, "unknown metric 'nsp'": 1}

    def test_agents_excluded_unless_asked(self) -> None:
        """Rows whose respondent is 'agent' are left out by default and counted."""
        columns: dict[str, list[Any]] = {
            "metric": ["nps"] * 3,
            "score": [10, 0, 0],
            "respondent": ["customer", "agent", "agent"],
        }
        frame = ResponseFrame.from_columns(columns)
        assert len(frame) == 1
        assert frame.excluded_agents == 2
        both = ResponseFrame.from_columns(columns, include_agents=True)
        assert len(both) == 3
        assert both.dimensions["respondent"].values == ("agent", "customer")

    def test_a_respondent_column_of_ids_is_refused(self) -> None:
        """A 'respondent' column holding ids is refused, saying what the name means and how to rename."""
        columns: dict[str, list[Any]] = {
            "metric": ["nps"] * 2,
            "score": [10, 0],
            "respondent": ["C-1001", "C-1002"],
        }
        with pytest.raises(CxError) as caught:
            ResponseFrame.from_columns(columns, source="answers.csv")
        assert str(caught.value) == (
            "answers.csv: column 'respondent' holds 'C-1001', which is not a respondent kind: "
            "a column of that name says who answered ('customer', 'anonymous', 'agent'), and "
            "agent-reported rows are left out by it. If it holds respondent ids, rename it "
            "(to 'respondent_id', say), or pass respondent=None"
        )
        kept = ResponseFrame.from_columns(columns, respondent=None)
        assert kept.dimensions["respondent"].values == ("C-1001", "C-1002")

    def test_missing_columns(self) -> None:
        """A missing metric or score column is named, with the columns that exist."""
        with pytest.raises(CxError, match="has no column 'score'"):
            ResponseFrame.from_columns({"metric": ["nps"], "value": [1]})
        with pytest.raises(CxError, match="no column"):
            ResponseFrame.from_columns({"metric": ["nps"], "score": [1]}, dimensions=["store"])
        with pytest.raises(CxError, match="policy"):
            ResponseFrame.from_columns({"metric": ["nps"], "score": [1]}, invalid="ignore")  # type: ignore[arg-type]

    def test_times_parsed(self) -> None:
        """ISO times with offsets become UTC; naive ones are taken as UTC; bad ones are errors."""
        frame = ResponseFrame.from_columns(
            {
                "metric": ["nps", "nps", "nps"],
                "score": [1, 2, 3],
                "answered_at": np.array(
                    ["2026-03-02T10:00:00+05:30", "2026-03-02T04:30:00", None], dtype=object
                ),
            }
        )
        assert frame.time is not None
        stamps = frame.time.astype("datetime64[us]")
        assert stamps[0] == stamps[1] == np.datetime64("2026-03-02T04:30:00")
        assert np.isnat(stamps[2])
        with pytest.raises(ScoreInputError, match="not an ISO 8601 date-time"):
            ResponseFrame.from_columns(
                {
                    "metric": ["nps"],
                    "score": [1],
                    "answered_at": np.array(["yesterday"], dtype=object),
                }
            )

    def test_weights(self) -> None:
        """A weight column is read; negative weights are errors."""
        frame = ResponseFrame.from_columns(
            {"metric": ["nps"] * 2, "score": [9, 0], "w": [1.0, 3.0]}, weight="w"
        )
        assert frame.weight is not None
        assert frame.weight.tolist() == [1.0, 3.0]
        with pytest.raises(ScoreInputError, match="not a finite weight"):
            ResponseFrame.from_columns({"metric": ["nps"], "score": [9], "w": [-1.0]}, weight="w")


class TestDimension:
    def test_concat_keeps_every_row_in_order_with_values_merged_and_sorted(self):
        parts: list[list[GroupValue]] = [["B", None, 3], [], ["A", "B"], [None], [2.5, "A"]]
        joined = Dimension.concat("d", [Dimension.encode("d", p) for p in parts])
        whole = Dimension.encode("d", [v for p in parts for v in p])
        assert joined.values == whole.values == (2.5, 3, "A", "B", None)
        assert joined.codes.tolist() == whole.codes.tolist()
        assert joined.decoded().tolist() == [v for p in parts for v in p]
        assert joined.codes.dtype == np.int32

    def test_concat_of_one_part_is_that_part_and_of_none_is_empty(self):
        one = Dimension.encode("store", ["x", "y"])
        assert Dimension.concat("store", [one]) is one
        assert Dimension.concat("shop", [one]).name == "shop"
        empty = Dimension.concat("store", [])
        assert (len(empty), empty.codes.tolist()) == (0, [])


class TestFromResponses:
    def test_rows_per_answer_with_policy(self) -> None:
        """One row per answered scored question; inverted CES is turned; text is ignored."""
        responses = [
            response("R1", {"ltr": 9, "effort": 1, "why": "quick"}),
            response("R2", {"ltr": 3}),
        ]
        frame = ResponseFrame.from_responses(responses, [SURVEY])
        assert len(frame) == 3
        assert sorted(frame.metrics) == ["ces", "nps"]
        ces = frame.select(metrics=["ces"])
        assert ces.scores.tolist() == [7]  # 1 on a lower-is-better scale is the best
        assert set(frame.dimensions) >= {
            "store",
            "touchpoint",
            "question",
            "response",
            "answer_channel",
        }

    def test_agents_and_partials(self) -> None:
        """Agent reports are excluded by default; partial responses count unless complete_only."""
        responses = [
            response("R1", {"ltr": 10}),
            response("R2", {"ltr": 0}, respondent="agent", agent_id="A-1"),
            response("R3", {"ltr": 0}, status="partial", completed_at=None),
        ]
        frame = ResponseFrame.from_responses(responses, [SURVEY])
        assert len(frame) == 2
        assert frame.excluded_agents == 1
        assert len(ResponseFrame.from_responses(responses, [SURVEY], complete_only=True)) == 1
        assert len(ResponseFrame.from_responses(responses, [SURVEY], include_agents=True)) == 3

    def test_invalid_answers(self) -> None:
        """An off-scale answer or unknown survey names the response and question."""
        bad = [response("R1", {"ltr": 11}), response("R2", {"ltr": 5}, survey_id="other")]
        with pytest.raises(ScoreInputError) as info:
            ResponseFrame.from_responses(bad, [SURVEY])
        text = str(info.value)
        assert "responses[0] 'R1'.answers.ltr: 11 is not a whole number from 0 to 10" in text
        assert "survey 'other' v1 is not among the surveys given" in text
        dropped = ResponseFrame.from_responses(bad, [SURVEY], invalid="drop")
        assert len(dropped) == 0
        assert sum(dropped.dropped.values()) == 2

    def test_only_an_absent_context_value_is_missing(self) -> None:
        """Typed context text like "" or "n/a" is a value, as in a store; absent is None."""
        responses = [
            response(f"R{i}", {"ltr": i}, context={"store": store} if store is not None else {})
            for i, store in enumerate(["", "n/a", "null", "BLR-01", None])
        ]
        frame = ResponseFrame.from_responses(responses, [SURVEY])
        assert frame.dimensions["store"].values == ("", "BLR-01", "n/a", "null", None)
        cells = {c.key: c.n for c in score(frame, "nps", by=("store",))}
        assert cells == {("",): 1, ("BLR-01",): 1, ("n/a",): 1, ("null",): 1, (None,): 1}
        from_file = ResponseFrame.from_columns(
            {"metric": ["nps"] * 3, "score": [1, 2, 3], "store": ["", "n/a", "BLR-01"]}
        )
        assert from_file.dimensions["store"].values == ("BLR-01", None)

    def test_weights_by_response(self) -> None:
        """Weights can be given per response id."""
        frame = ResponseFrame.from_responses(
            [response("R1", {"ltr": 10}), response("R2", {"ltr": 0})],
            [SURVEY],
            weights={"R1": 2.0, "R2": 1.0},
        )
        assert frame.weight is not None
        assert sorted(frame.weight.tolist()) == [1.0, 2.0]


class TestFiles:
    def _write(self, tmp_path: Path) -> Path:
        path = tmp_path / "answers.csv"
        path.write_text(
            "metric,score,store,answered_at\n"
            "nps,10,A,2026-03-02T10:00:00+05:30\n"
            "nps,,A,2026-03-02T10:00:00Z\n"
            "nps,3,B,2026-03-09T10:00:00Z\n"
            "csat,5,B,2026-03-09T10:00:00Z\n",
            encoding="utf-8",
        )
        return path

    def test_csv(self, tmp_path: Path) -> None:
        """A CSV is read with its blank score skipped and times in UTC."""
        frame = ResponseFrame.from_csv(self._write(tmp_path))
        assert len(frame) == 3
        assert frame.skipped == 1
        assert frame.dimensions["store"].values == ("A", "B")

    def test_parquet_and_round_trips(self, tmp_path: Path) -> None:
        """Parquet, pandas and polars give the same frame as the CSV."""
        pytest.importorskip("pyarrow")
        frame = ResponseFrame.from_csv(self._write(tmp_path))
        df = frame.to_pandas()
        assert list(df["metric"]) == ["nps", "nps", "csat"]
        assert str(df["answered_at"].dt.tz) == "UTC"
        parquet = tmp_path / "answers.parquet"
        df.to_parquet(parquet)
        for other in (
            ResponseFrame.from_parquet(parquet),
            ResponseFrame.from_pandas(df),
            ResponseFrame.from_polars(frame.to_polars()),
        ):
            assert other.metrics == frame.metrics
            assert other.scores.tolist() == frame.scores.tolist()
            assert other.dimensions["store"].values == frame.dimensions["store"].values
            assert other.time is not None
            assert frame.time is not None
            assert other.time.tolist() == frame.time.tolist()

    def test_unreadable(self, tmp_path: Path) -> None:
        """A file that is not a table gives a CxError naming it."""
        path = tmp_path / "x.parquet"
        path.write_bytes(b"not parquet")
        with pytest.raises(CxError, match=r"x\.parquet is not a readable Parquet file"):
            ResponseFrame.from_parquet(path)


class TestDeriving:
    def test_select(self) -> None:
        """Selecting by metric, dimension value and time range keeps the right rows."""
        frame = ResponseFrame.from_columns(
            {
                "metric": ["nps", "nps", "csat"],
                "score": [1, 2, 3],
                "store": ["A", "B", "A"],
                "answered_at": np.array([T0, T0 + timedelta(days=2), T0], dtype=object),
            }
        )
        assert frame.select(metrics=["nps"]).scores.tolist() == [1, 2]
        assert frame.select(where={"store": "A"}).scores.tolist() == [1, 3]
        assert frame.select(start=T0 + timedelta(days=1)).scores.tolist() == [2]
        with pytest.raises(CxError, match="no dimension 'agent'"):
            frame.select(where={"agent": "x"})

    def test_poststratify(self) -> None:
        """Post-stratified weights make each stratum's weighted share its target."""
        frame = ResponseFrame.from_columns(
            {"metric": ["nps"] * 4, "score": [10, 10, 10, 0], "city": ["X", "X", "X", "Y"]}
        )
        weighted = frame.poststratify("city", {"X": 0.5, "Y": 0.5})
        assert weighted.weight is not None
        assert weighted.weight.tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2.0])
        assert score(weighted, "nps", weighted=True)[0].score == pytest.approx(0.0)
        with pytest.raises(CxError, match="no target"):
            frame.poststratify("city", {"X": 1.0})


class TestLazyImport:
    def test_numpy_not_imported(self) -> None:
        """import cxcore.scoring does not import numpy, pandas, polars or pyarrow."""
        code = (
            "import sys, cxcore, cxcore.scoring; "
            "print(sorted(m for m in ('numpy', 'pandas', 'polars', 'pyarrow') if m in sys.modules))"
        )
        src = str(Path(__file__).resolve().parents[1] / "src")
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": src},
        )
        assert out.stdout.strip() == "[]"
