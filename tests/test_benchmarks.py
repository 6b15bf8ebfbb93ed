"""The benchmarks run where an optional peer is missing, and nox installs every peer."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from cxcore.analysis.text import _TERM as THEME_TERM

ROOT = Path(__file__).parent.parent
BENCH = ROOT / "benchmarks"


def run_without(
    script: str, missing: list[str], *args: str, path: str
) -> tuple[int, list[dict[str, Any]]]:
    """Run a benchmark as `python benchmarks/SCRIPT` would, with *missing* modules unimportable."""
    code = (
        "import runpy, sys\n"
        f"sys.modules.update(dict.fromkeys({missing!r}))\n"  # None: the import fails
        f"sys.path.insert(0, {str(BENCH)!r})\n"
        f"sys.argv = [{script!r}, *{list(args)!r}]\n"
        f"runpy.run_path({str(BENCH / script)!r}, run_name='__main__')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=ROOT,
        env={"PATH": path, "PYTHONPATH": str(ROOT / "src")},
    )
    assert "Traceback" not in run.stderr, run.stderr
    return run.returncode, [json.loads(line) for line in run.stdout.splitlines()]


class TestMissingPeers:
    def test_scoring_reports_each_missing_peer_and_runs_the_rest(self, tmp_path):
        """Without pandas, polars, duckdb and gcc, bench_scoring says so per case, and scores."""
        status, lines = run_without(
            "bench_scoring.py",
            ["pandas", "polars", "duckdb"],
            "--rows=5000",
            "--repeat=1",
            "--live-events=500",
            path=str(tmp_path),  # no gcc here
        )
        assert status == 0
        skipped = {line["case"]: line["skipped"] for line in lines if "skipped" in line}
        assert set(skipped) == {
            "C loop (gcc -O3)",
            "pandas groupby",
            "polars lazy group_by",
            "duckdb over arrow",
        }
        assert skipped["C loop (gcc -O3)"].startswith("gcc is not on PATH")
        assert skipped["duckdb over arrow"].startswith("duckdb is not installed")
        assert "python -m nox -s bench installs every peer" in skipped["pandas groupby"]
        ran = [line["case"] for line in lines if "seconds" in line]
        assert "cxcore score_many nps+csat+ces by store x touchpoint (cached key)" in ran
        assert "live add (checked, with datetime)" in ran

    def test_cube_smoke(self, tmp_path):
        """bench_cube on a small frame: the cube and its score_many baseline, with their ratio."""
        status, lines = run_without(
            "bench_cube.py", [], "--rows=20000", "--repeat=1", path=str(tmp_path)
        )
        assert status == 0
        cases = {line["case"]: line for line in lines}
        cube = next(line for case, line in cases.items() if case.startswith("cube nps+csat+ces"))
        assert cube["baseline"] == "score_many for the same cells"
        assert cube["ratio_to_baseline"] > 0
        assert 0 < cube["cells"] <= 20000
        assert any(case.startswith("score_many nps+csat+ces") for case in cases)

    def test_email_without_an_smtp_server_is_skipped(self, tmp_path):
        """Without aiosmtpd (the sink), bench_email prints one skipped line and exits 0."""
        status, lines = run_without("bench_email.py", ["aiosmtpd"], path=str(tmp_path))
        assert status == 0
        ((bench, case, why),) = [(line["bench"], line["case"], line["skipped"]) for line in lines]
        assert (bench, case) == ("email", "all cases")
        assert why.startswith("aiosmtpd is not installed")

    def test_collector_without_wrk_is_skipped(self, tmp_path):
        """Without wrk on PATH, bench_collector prints one skipped line and exits 0."""
        status, lines = run_without("bench_collector.py", [], path=str(tmp_path))
        assert status == 0
        ((bench, case, why),) = [(line["bench"], line["case"], line["skipped"]) for line in lines]
        assert (bench, case) == ("collector", "all cases")
        assert "apt-get install -y wrk" in why

    def test_inapp_without_playwright_still_reports_the_script_size(self, tmp_path):
        """Without Playwright, bench_inapp prints the widget's size, then one skipped line."""
        status, lines = run_without("bench_inapp.py", ["playwright"], path=str(tmp_path))
        assert status == 0
        size, skip = lines
        assert size["case"] == "script_size"
        assert size["within_budget"] is True
        assert 0 < size["gzip_bytes"] < size["bytes"]
        assert skip["case"] == "track_to_shown"
        assert skip["skipped"].startswith("playwright")


class TestQuickRuns:
    def test_inapp_quick_run_shows_the_survey_every_time(self, tmp_path):
        """bench_inapp --quick drives Chromium for 20 prompts and prints its three lines."""
        if not Path("/usr/bin/chromium").is_file():
            pytest.skip("Debian's Chromium is not installed (apt-get install -y chromium)")
        run = subprocess.run(
            [sys.executable, str(BENCH / "bench_inapp.py"), "--quick"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            cwd=ROOT,
        )
        assert run.returncode == 0, run.stderr
        lines = {line["case"]: line for line in map(json.loads, run.stdout.splitlines())}
        assert set(lines) == {"script_size", "track_to_shown", "eligibility_from_python"}
        shown = lines["track_to_shown"]
        assert shown["iterations"] == 20
        assert 0 < shown["p50_ms"] <= shown["p95_ms"] <= shown["max_ms"]
        assert shown["baseline"] == "eligibility_from_python"


class TestDisplay:
    def test_smoke_with_pandas_gives_figures_and_ratios(self, tmp_path):
        """bench_display runs quickly on a small table and names its baseline in every ratio."""
        status, lines = run_without(
            "bench_display.py", [], "--cells=200", "--repeat=1", path=str(tmp_path)
        )
        assert status == 0
        by_case = {line["case"]: line for line in lines}
        html = by_case["cxcore ScoreTable._repr_html_ (20 rows shown)"]
        assert html["cells"] == 200
        assert html["seconds"] > 0
        assert html["budget_seconds"] == 0.05
        assert html["baseline"] == "pandas DataFrame._repr_html_ (20 rows shown)"
        assert html["ratio_to_baseline"] > 0
        assert by_case["cxcore display_html(max_rows=None), every row"]["baseline"] == (
            "pandas DataFrame.to_html (every row)"
        )
        assert "pandas DataFrame.to_html (every row)" in by_case

    def test_without_pandas_the_cxcore_cases_still_run(self, tmp_path):
        status, lines = run_without(
            "bench_display.py", ["pandas"], "--cells=50", "--repeat=1", path=str(tmp_path)
        )
        assert status == 0
        skipped = [line for line in lines if "skipped" in line]
        assert [line["case"] for line in skipped] == ["pandas DataFrame.to_html"]
        ran = {line["case"] for line in lines if "seconds" in line}
        assert "cxcore ScoreTable._repr_html_ (20 rows shown)" in ran


class TestTextBenchmark:
    def test_quick_run_prints_each_case_with_its_baseline(self, tmp_path):
        """bench_text in smoke mode: sentiment and themes, each next to the bare library."""
        status, lines = run_without(
            "bench_text.py", [], "--comments=400", "--repeat=1", "--themes=3", path=str(tmp_path)
        )
        assert status == 0
        cases = {line["case"]: line for line in lines}
        ours = cases["cxcore sentiment (script and language checks, then VADER)"]
        assert ours["baseline"] + " (baseline)" in cases
        assert ours["comments"] == 400
        assert ours["ratio_to_baseline"] > 0
        assert ours["not_scored"] > 0  # the Devanagari and romanised Hindi comments
        found = cases["cxcore themes, 3 themes with labels and examples"]
        assert found["baseline"] + " (baseline)" in cases
        assert len(found["labels"]) == 3
        assert found["ratio_to_baseline"] > 0

    def test_the_themes_baseline_counts_the_terms_cxcore_counts(self):
        """Both sides of the themes case build one vocabulary (the same term pattern)."""
        text = (BENCH / "bench_text.py").read_text(encoding="utf-8")
        assert f'TERM = r"{THEME_TERM}"' in text

    def test_without_the_text_extra_each_case_is_skipped(self, tmp_path):
        status, lines = run_without(
            "bench_text.py", ["vaderSentiment", "sklearn"], "--comments=50", path=str(tmp_path)
        )
        assert status == 0
        assert [(line["case"], "cxcore[text]" in line["skipped"]) for line in lines] == [
            ("sentiment", True),
            ("themes", True),
        ]


class TestNoxInstallsEveryPeer:
    def test_the_bench_group_holds_every_optional_peer(self):
        """Every module a benchmark treats as an optional peer is installed by `nox -s bench`."""
        pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        groups = pyproject["dependency-groups"]

        def names(group: str) -> set[str]:
            found: set[str] = set()
            for item in groups[group]:
                if isinstance(item, dict):
                    found |= names(item["include-group"])
                else:
                    found.add(re.split(r"[\[<>=;]", item, maxsplit=1)[0].strip())
            return found

        # nox installs .[all]: aiosmtplib (the email extra) and the server extra come with it.
        server = {
            re.split(r"[\[<>=;]", item, maxsplit=1)[0].strip()
            for item in pyproject["project"]["optional-dependencies"]["server"]
        }
        installed = names("bench") | {"aiosmtplib"} | server
        peers = {
            match
            for script in BENCH.glob("bench_*.py")
            for match in re.findall(r'peer\(\s*"([\w.]+)"', script.read_text(encoding="utf-8"))
        }
        peers |= {"aiosmtpd", "aiosmtplib"}  # bench_email's, imported at the top
        assert {"pandas", "polars", "duckdb", "pyarrow", "psycopg"} <= peers
        assert peers <= installed
        noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
        assert '_install(session, "bench")' in noxfile
