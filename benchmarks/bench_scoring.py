"""Benchmark: NPS, CSAT and CES by store x touchpoint, cxcore against pandas, polars, DuckDB and C.

Synthetic data: N answers (10,000,000 by default) over 1,000 stores, 5,000 agents,
4 channels and 12 touchpoints, the three metrics mixed. Every tool computes the
same thing from the same integer columns: the count of answers per (store,
touchpoint, metric, level), from which every score and interval follows. Prints
one JSON line per case. Only ratios measured in one run mean anything.

    PYTHONPATH=src python benchmarks/bench_scoring.py [--rows N] [--repeat R]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import random
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _peers import peer, program

from cxcore.metrics import get_metric
from cxcore.scoring import LiveScoreboard, ResponseFrame, Segmentation, score_many
from cxcore.scoring.frame import Dimension

STORES, AGENTS, CHANNELS, TOUCHPOINTS = 1000, 5000, 4, 12
METRICS = ("ces", "csat", "nps")  # sorted, as the frame encodes them

C_SOURCE = r"""
#include <stdint.h>
#include <string.h>
void count(const int32_t *store, const int8_t *touchpoint, const int8_t *metric,
           const int8_t *score, int64_t n, const int32_t *shift, int32_t n_codes,
           int32_t n_touchpoints, int64_t *out) {
    for (int64_t i = 0; i < n; i++) {
        int64_t group = (int64_t)store[i] * n_touchpoints + touchpoint[i];
        out[group * n_codes + shift[metric[i]] + score[i]]++;
    }
}
"""


def emit(case: str, seconds: float, **extra: object) -> None:
    print(json.dumps({"case": case, "seconds": round(seconds, 6), **extra}), flush=True)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_data(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    metric = rng.integers(0, 3, size=n, dtype=np.int8)
    lows = np.array([get_metric(m).low for m in METRICS], dtype=np.int8)
    highs = np.array([get_metric(m).high for m in METRICS], dtype=np.int8)
    span = (highs - lows + 1)[metric]
    score = (lows[metric] + (rng.random(n) * span).astype(np.int8)).astype(np.int8)
    return {
        "metric": metric,
        "score": score,
        "store": rng.integers(0, STORES, size=n, dtype=np.int32),
        "agent": rng.integers(0, AGENTS, size=n, dtype=np.int32),
        "channel": rng.integers(0, CHANNELS, size=n, dtype=np.int8),
        "touchpoint": rng.integers(0, TOUCHPOINTS, size=n, dtype=np.int8),
    }


def make_frame(data: dict[str, np.ndarray]) -> ResponseFrame:
    names = {
        "store": tuple(f"S{i:04d}" for i in range(STORES)),
        "agent": tuple(f"A{i:04d}" for i in range(AGENTS)),
        "channel": ("app", "email", "kiosk", "sms"),
        "touchpoint": tuple(f"T{i:02d}" for i in range(TOUCHPOINTS)),
    }
    dims = {k: Dimension(k, data[k].astype(np.int32), v) for k, v in names.items()}
    return ResponseFrame(
        metrics=[get_metric(m) for m in METRICS],
        metric_codes=data["metric"],
        scores=data["score"],
        dimensions=dims,
    )


def bench_c(data: dict[str, np.ndarray], frame: ResponseFrame, repeat: int) -> float | None:
    gcc = program("gcc", bench="scoring", case="C loop (gcc -O3)")
    if gcc is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "count.c"
        lib = Path(tmp) / "count.so"
        src.write_text(C_SOURCE, encoding="utf-8")
        subprocess.run(  # noqa: S603 - fixed arguments
            [gcc, "-O3", "-march=native", "-shared", "-fPIC", str(src), "-o", str(lib)],
            check=True,
        )
        count = ctypes.CDLL(str(lib)).count
        offsets = frame.level_offsets
        shift = np.array(
            [offsets[i] - get_metric(m).low for i, m in enumerate(METRICS)], dtype=np.int32
        )
        n_codes = offsets[-1]
        out = np.zeros(STORES * TOUCHPOINTS * n_codes, dtype=np.int64)
        ptr = ctypes.c_void_p

        def run() -> None:
            out[:] = 0
            count(
                ptr(data["store"].ctypes.data),
                ptr(data["touchpoint"].ctypes.data),
                ptr(data["metric"].ctypes.data),
                ptr(data["score"].ctypes.data),
                ctypes.c_int64(len(data["store"])),
                ptr(shift.ctypes.data),
                ctypes.c_int32(n_codes),
                ctypes.c_int32(TOUCHPOINTS),
                ptr(out.ctypes.data),
            )

        seconds = best(run, repeat)
        expected = np.bincount(
            frame.group_index(("store", "touchpoint"), None).index, minlength=len(out)
        )
        assert np.array_equal(out, expected), "the C loop and cxcore disagree"
        return seconds


def bench_live(events: int) -> None:
    """Live scoring, as a stream: days advance, 30 of them per pass of *events* answers.

    A first pass creates every segment (as on a running board); the measured pass
    carries on over the next 30 days, so it pays the board's 30 day changes. Late
    answers (of any of the 29 days before the latest) are measured on their own.
    """
    import datetime as dt  # noqa: PLC0415 - only the live benchmark needs dates

    segmentations = [
        Segmentation("overall"),
        Segmentation("store", ("store",)),
        Segmentation("agent", ("agent",)),
        Segmentation("channel", ("channel",)),
        Segmentation("touchpoint", ("touchpoint",)),
        Segmentation("week", (), "week"),
        Segmentation("store_touchpoint", ("store", "touchpoint")),
    ]
    rng = random.Random(1)
    stores = [f"S{i:04d}" for i in range(STORES)]
    agents = [f"A{i:04d}" for i in range(AGENTS)]
    channels = ["app", "email", "kiosk", "sms"]
    touchpoints = [f"T{i:02d}" for i in range(TOUCHPOINTS)]
    base_day = 20_500

    def stream(first_day: int) -> list[tuple[int, int, str, str, str, str]]:
        return [
            (
                rng.randrange(23),
                first_day + i * 30 // events,
                stores[rng.randrange(STORES)],
                agents[rng.randrange(AGENTS)],
                channels[rng.randrange(4)],
                touchpoints[rng.randrange(TOUCHPOINTS)],
            )
            for i in range(events)
        ]

    warm, rows = stream(base_day), stream(base_day + 30)

    def run(add: Callable[..., None], case: str) -> None:
        start = time.perf_counter()
        for row in rows:
            add(*row)
        seconds = time.perf_counter() - start
        emit(case, seconds, responses=events, responses_per_second=round(events / seconds))

    for windows, label in (((), "no rolling windows"), ((7, 30), "7- and 30-day windows")):
        board = LiveScoreboard(segmentations, metrics=list(METRICS), windows=windows)
        for row in warm:  # every segment exists, as on a running board
            board.add_coded(*row)
        run(board.add_coded, f"live add_coded, 7 segmentations, {label}")
    reads = 1_000_000
    start = time.perf_counter()
    for _ in range(reads):
        board.score("store", "S0005", "nps")
    seconds = time.perf_counter() - start
    emit(
        "live score read (one segment)",
        seconds / reads,
        microseconds=round(seconds / reads * 1e6, 3),
    )

    def window_reads(label: str) -> None:
        for window in (7, 30):
            reads = 100_000
            start = time.perf_counter()
            for _ in range(reads):
                board.levels("store", "S0005", "nps", window=window)
            seconds = time.perf_counter() - start
            emit(
                f"live {window}-day window read (one segment, levels){label}",
                seconds / reads,
                microseconds=round(seconds / reads * 1e6, 3),
            )

    window_reads("")
    # The same answers again, now 0 to 29 days late (the latest day is the last one).
    run(board.add_coded, "live add_coded, 7 segmentations, 7- and 30-day windows, all late")
    window_reads(", with late answers")
    now = dt.datetime(1970, 1, 1, 12, tzinfo=dt.UTC) + dt.timedelta(days=rows[-1][1])
    dims = {"store": "S0001", "agent": "A0001", "channel": "sms", "touchpoint": "T01"}
    start = time.perf_counter()
    for _ in range(100_000):
        board.add("nps", 9, at=now, dimensions=dims)
    seconds = time.perf_counter() - start
    emit(
        "live add (checked, with datetime)",
        seconds / 100_000,
        responses_per_second=round(100_000 / seconds),
    )


def _pandas_on_text(pd: Any, data: dict[str, np.ndarray], repeat: int) -> float:  # noqa: ANN401
    """Time pandas on text columns; the 10M-row object frame is freed on return."""
    names = make_frame(data)
    text = pd.DataFrame(
        {
            "store": names.dimensions["store"].decoded(),
            "touchpoint": names.dimensions["touchpoint"].decoded(),
            "metric": np.asarray(METRICS, dtype=object)[data["metric"]],
            "score": data["score"],
        }
    )
    return best(
        lambda: text.groupby(["store", "touchpoint", "metric", "score"], sort=False).size(), repeat
    )


def compare_with_peers(data: dict[str, np.ndarray], warm: float, cold: float, repeat: int) -> None:
    """pandas, polars and DuckDB count the same groups; a missing one is reported as skipped."""
    columns = ("store", "touchpoint", "metric", "score")

    def versus(case: str, seconds: float) -> None:
        emit(
            case,
            seconds,
            ratio_to_cxcore=round(seconds / warm, 3),
            ratio_to_cxcore_new_grouping=round(seconds / cold, 3),
        )

    pd = peer("pandas", bench="scoring", case="pandas groupby")
    if pd is not None:
        df = pd.DataFrame({k: data[k] for k in columns})
        versus(
            "pandas groupby (integer-coded columns)",
            best(lambda: df.groupby(list(columns), sort=False).size(), max(1, repeat // 2)),
        )
        # The table as an analyst loads it (from CSV or SQL): text ids and metric names.
        versus(
            "pandas groupby (text columns, as loaded)",
            _pandas_on_text(pd, data, max(1, repeat // 2)),
        )

    pl = peer("polars", bench="scoring", case="polars lazy group_by")
    if pl is not None:
        lazy = pl.DataFrame({k: data[k] for k in columns}).lazy().group_by(columns).agg(pl.len())
        versus("polars lazy group_by", best(lazy.collect, repeat))

    duckdb = peer("duckdb", bench="scoring", case="duckdb over arrow")
    pa = peer("pyarrow", bench="scoring", case="duckdb over arrow") if duckdb else None
    if duckdb is not None and pa is not None:
        con = duckdb.connect()
        con.register("answers", pa.table({k: data[k] for k in columns}))
        query = "SELECT store, touchpoint, metric, score, count(*) FROM answers GROUP BY ALL"
        versus("duckdb over arrow", best(lambda: con.sql(query).to_arrow_table(), repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--live-events", type=int, default=1_000_000)
    args = parser.parse_args()
    n, repeat = args.rows, args.repeat

    data = make_data(n)
    frame = make_frame(data)
    by = ("store", "touchpoint")

    def cxcore() -> object:
        return score_many(frame, list(METRICS), by=by)

    # Warm up once on another grouping (imports, first touch of the columns), so that
    # "cold" measures what an analyst meets on each new grouping: the key being built.
    score_many(frame, list(METRICS), by=("channel",))

    def cold_call() -> object:
        frame.clear_cache()
        return cxcore()

    cold = best(cold_call, repeat)
    warm = best(cxcore, repeat)
    c_loop = bench_c(data, frame, repeat)
    if c_loop is None:
        emit("cxcore score_many nps+csat+ces by store x touchpoint (cached key)", warm, rows=n)
        emit("cxcore, new grouping (builds the key, then scores)", cold, rows=n)
    else:
        emit(
            "cxcore score_many nps+csat+ces by store x touchpoint (cached key)",
            warm,
            rows=n,
            ratio_to_baseline=round(warm / c_loop, 3),
            baseline="C loop",
        )
        emit(
            "cxcore, new grouping (builds the key, then scores)",
            cold,
            rows=n,
            ratio_to_baseline=round(cold / c_loop, 3),
        )
        emit("C loop (gcc -O3)", c_loop, ratio_to_cxcore=round(c_loop / warm, 3))

    def numpy_per_call() -> object:
        key = data["store"].astype(np.int64) * TOUCHPOINTS + data["touchpoint"]
        key *= frame.level_offsets[-1]
        key += frame.level_codes
        return np.bincount(key, minlength=STORES * TOUCHPOINTS * frame.level_offsets[-1])

    t = best(numpy_per_call, repeat)
    emit("numpy bincount, key computed per call", t, ratio_to_cxcore=round(t / warm, 3))

    compare_with_peers(data, warm, cold, repeat)

    # Memory: peak allocations during scoring, against the bytes of the columns read.
    tracemalloc.start()
    cxcore()
    _, peak_warm = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    groups = frame.group_index(by, None)
    read_bytes = groups.index.nbytes
    emit(
        "cxcore peak extra memory, cached key",
        0.0,
        peak_bytes=peak_warm,
        columns_read_bytes=read_bytes,
        ratio=round(peak_warm / read_bytes, 3),
    )
    frame.clear_cache()
    cold_read = sum(frame.dimensions[d].codes.nbytes for d in by) + frame.level_codes.nbytes
    tracemalloc.start()
    cxcore()
    _, peak_cold = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    emit(
        "cxcore peak extra memory, first call (key built and kept)",
        0.0,
        peak_bytes=peak_cold,
        columns_read_bytes=cold_read,
        ratio=round(peak_cold / cold_read, 3),
    )

    bench_live(args.live_events)


if __name__ == "__main__":
    main()
