"""Benchmark: the segment cube against score_many for the same cells, in the same run.

Synthetic data: N answers (10,000,000 by default) over 1,000 stores and 26 weeks,
NPS, CSAT and CES mixed, a twentieth of them reported by agents. The cube scores
the three metrics by store x week, kept apart by who reported them, with
intervals, minimum-n suppression and each cell's change against the store's
previous week (with its interval and p-value). The baseline is score_many for
the same cells (by store, respondent and week): the cube is that, plus the
suppression and the changes. Both build the grouping key each time, as a new
question in a notebook does. Prints one JSON line per case; the target is a
ratio of at most 1.5.

    PYTHONPATH=src python benchmarks/bench_cube.py [--rows N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np

from cxcore.analysis import build_cube
from cxcore.metrics import get_metric
from cxcore.scoring import ResponseFrame, score_many
from cxcore.scoring.frame import Dimension

STORES, WEEKS = 1000, 26
METRICS = ("ces", "csat", "nps")  # sorted, as the frame encodes them
KINDS = ("agent", "anonymous", "customer")  # sorted
FIRST_DAY = 20_454  # 2026-01-01, a Thursday
US_PER_DAY = 86_400_000_000


def emit(case: str, seconds: float, **extra: object) -> None:
    print(json.dumps({"case": case, "seconds": round(seconds, 6), **extra}), flush=True)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_frame(n: int, seed: int = 0) -> ResponseFrame:
    rng = np.random.default_rng(seed)
    metric = rng.integers(0, 3, size=n, dtype=np.int8)
    lows = np.array([get_metric(m).low for m in METRICS], dtype=np.int8)
    highs = np.array([get_metric(m).high for m in METRICS], dtype=np.int8)
    span = (highs - lows + 1)[metric]
    score = (lows[metric] + (rng.random(n) * span).astype(np.int8)).astype(np.int8)
    store = rng.integers(0, STORES, size=n, dtype=np.int32)
    # A twentieth by agents, the rest split between named and anonymous customers.
    kind = np.where(rng.random(n) < 0.05, 0, rng.integers(1, 3, size=n)).astype(np.int32)
    micros = (FIRST_DAY * US_PER_DAY + rng.integers(0, WEEKS * 7 * US_PER_DAY, size=n)).astype(
        np.int64
    )
    return ResponseFrame(
        metrics=[get_metric(m) for m in METRICS],
        metric_codes=metric,
        scores=score,
        dimensions={
            "store": Dimension("store", store, tuple(f"S{i:04d}" for i in range(STORES))),
            "respondent": Dimension("respondent", kind, KINDS),
        },
        time=micros,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, repeat = args.rows, args.repeat
    frame = make_frame(n)
    # Warm up once on another grouping (imports, first touch of the columns).
    score_many(frame, list(METRICS), by=("respondent",))

    def baseline() -> object:
        frame.clear_cache()
        return score_many(frame, list(METRICS), by=("store", "respondent"), every="week")

    def cube() -> object:
        frame.clear_cache()
        return build_cube(frame, list(METRICS), by="store", every="week")

    # Interleaved, so that a slow spell of the shared machine hits both alike.
    base_times, cube_times = [], []
    for _ in range(repeat):
        base_times.append(best(baseline, 1))
        cube_times.append(best(cube, 1))
    base, taken = min(base_times), min(cube_times)
    built = build_cube(frame, list(METRICS), by="store", every="week")
    emit(
        "score_many nps+csat+ces by store x respondent x week (new key)",
        base,
        rows=n,
        cells=sum(
            len(t)
            for t in score_many(
                frame, list(METRICS), by=("store", "respondent"), every="week"
            ).values()
        ),
    )
    emit(
        "cube nps+csat+ces by store x week, agents apart, suppressed, week-on-week changes",
        taken,
        rows=n,
        cells=len(built),
        suppressed=int(built.columns["suppressed"].sum()),
        changes=int(np.isfinite(built.columns["change"]).sum()),
        ratio_to_baseline=round(taken / base, 3),
        baseline="score_many for the same cells",
        target="at most 1.5",
    )
    start = time.perf_counter()
    table = built.to_pandas()
    emit("cube to_pandas", time.perf_counter() - start, rows=len(table))


if __name__ == "__main__":
    main()
