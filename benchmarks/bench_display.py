"""Benchmark: a score table showing itself, cxcore's HTML and text against pandas' to_html.

A ScoreTable of NPS by store with CELLS cells (1,000 by default; 100 answers a
store), as Jupyter shows it: ``_repr_html_`` (cut to 20 rows, the default) and
every row (``display_html(max_rows=None)``), and as a terminal shows it
(``repr``). The baseline is pandas on the same table (store, n, score, low,
high, low_n): ``DataFrame.to_html()`` for every row, and ``DataFrame._repr_html_``
(cut to 20 rows too) for the notebook case. The target is
``_repr_html_`` of a 1,000-cell table under 50 ms. Prints one JSON line per
case; only ratios measured in one run mean anything.

    PYTHONPATH=src python benchmarks/bench_display.py [--cells N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
from _peers import peer

from cxcore.scoring import ResponseFrame, ScoreTable, score

BENCH = "display"
BUDGET_SECONDS = 0.050  # _repr_html_ of a 1,000-cell table


def emit(case: str, seconds: float, **extra: object) -> None:
    line = {"bench": BENCH, "case": case, "seconds": round(seconds, 6), **extra}
    print(json.dumps(line), flush=True)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_table(cells: int, seed: int = 0) -> ScoreTable:
    """NPS by store: *cells* stores, 100 answers each, a few with under 30 (low n)."""
    rng = np.random.default_rng(seed)
    per_store = np.full(cells, 100)
    per_store[:: max(cells // 50, 1)] = 12  # some low-n stores
    store = np.repeat(np.arange(cells), per_store)
    names = np.array([f"store <{i:04d}> & co" for i in range(cells)], dtype=object)
    return score(
        ResponseFrame.from_columns(
            {
                "metric": np.full(len(store), "nps", dtype=object),
                "score": rng.integers(0, 11, len(store)),
                "store": names[store],
            }
        ),
        "nps",
        by="store",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    cells, repeat = args.cells, args.repeat
    table = make_table(cells)
    assert len(table) == cells

    html_default = best(table._repr_html_, repeat)
    html_all = best(lambda: table.display_html(max_rows=None), repeat)
    text_default = best(lambda: repr(table), repeat)
    text_all = best(lambda: table.display_text(max_rows=None), repeat)

    pd = peer("pandas", bench=BENCH, case="pandas DataFrame.to_html")
    if pd is None:
        emit(
            "cxcore ScoreTable._repr_html_ (20 rows shown)",
            html_default,
            cells=cells,
            budget_seconds=BUDGET_SECONDS,
            within_budget=html_default < BUDGET_SECONDS,
        )
        emit("cxcore display_html(max_rows=None), every row", html_all, cells=cells)
    else:
        frame = table.to_pandas()[["store", "n", "score", "low", "high", "low_n"]]
        pandas_all = best(frame.to_html, repeat)

        def pandas_notebook() -> object:
            with pd.option_context("display.max_rows", 20, "display.min_rows", 20):
                return frame._repr_html_()

        pandas_default = best(pandas_notebook, repeat)
        emit(
            "cxcore ScoreTable._repr_html_ (20 rows shown)",
            html_default,
            cells=cells,
            budget_seconds=BUDGET_SECONDS,
            within_budget=html_default < BUDGET_SECONDS,
            baseline="pandas DataFrame._repr_html_ (20 rows shown)",
            ratio_to_baseline=round(html_default / pandas_default, 4),
        )
        emit(
            "cxcore display_html(max_rows=None), every row",
            html_all,
            cells=cells,
            baseline="pandas DataFrame.to_html (every row)",
            ratio_to_baseline=round(html_all / pandas_all, 4),
        )
        emit("pandas DataFrame._repr_html_ (20 rows shown)", pandas_default, cells=cells)
        emit("pandas DataFrame.to_html (every row)", pandas_all, cells=cells)
    emit("cxcore repr(ScoreTable) (20 rows shown)", text_default, cells=cells)
    emit("cxcore display_text(max_rows=None), every row", text_all, cells=cells)


if __name__ == "__main__":
    main()
