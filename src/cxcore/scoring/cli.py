"""The ``cxcore score`` command: scores with intervals from a CSV or Parquet file.

.. code-block:: console

    $ cxcore score answers.csv --metric nps --by store,touchpoint --every week --format json
"""

from __future__ import annotations

import argparse
import csv
import errno
import json
import math
import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cxcore.cli import UsageError
from cxcore.errors import CxError, UnknownMetricError, did_you_mean
from cxcore.metrics import metric_registry
from cxcore.scoring.cells import Period
from cxcore.scoring.stats import IntervalMethod

if TYPE_CHECKING:
    from cxcore.scoring.frame import ResponseFrame

__all__ = ["register", "run"]

_FIELDS = ("metric", "n", "score", "low", "high", "low_n")
_OFFSET = re.compile(r"([+-])(\d{1,2}):?(\d{2})")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``score`` subcommand; it runs :func:`run`.

    .. versionadded:: 0.1.0
    """
    parser = subparsers.add_parser(
        "score",
        help="score NPS, CSAT, CES or ratings from a CSV or Parquet file",
        description=(
            "Score a long table (one row per answer, with a metric and a score column) "
            "overall or by dimensions and periods, with intervals."
        ),
    )
    parser.add_argument("file", type=Path, help="a .csv or .parquet file")
    parser.add_argument(
        "--metric", required=True, help="the metric to score: nps, csat, ces, rating..."
    )
    parser.add_argument("--by", default="", help="dimensions to group by, separated by commas")
    parser.add_argument("--every", choices=[p.value for p in Period], help="also group by period")
    parser.add_argument(
        "--interval",
        default=IntervalMethod.AUTO.value,
        choices=[m.value for m in IntervalMethod],
        help="the headline interval (auto: adjusted-wald for NPS, wilson for shares, t for means)",
    )
    parser.add_argument(
        "--confidence", type=_confidence, default=0.95, help="confidence level (default 0.95)"
    )
    parser.add_argument(
        "--min-n", type=_count, default=30, help="flag cells with fewer answers (default 30)"
    )
    parser.add_argument(
        "--format", choices=["table", "json", "csv"], default="table", help="output format"
    )
    parser.add_argument("--metric-column", default="metric", help="the column naming the metric")
    parser.add_argument("--score-column", default="score", help="the column holding the answer")
    parser.add_argument(
        "--time-column", default="answered_at", help="the column with the answer's time"
    )
    parser.add_argument("--weight-column", default=None, help="a column of weights: score weighted")
    parser.add_argument(
        "--utc-offset",
        type=_offset,
        default=timedelta(0),
        help="offset in which days begin, e.g. +05:30 (default +00:00)",
    )
    parser.add_argument(
        "--include-agents", action="store_true", help="count agent-reported answers"
    )
    parser.add_argument(
        "--drop-invalid",
        action="store_true",
        help="drop invalid rows (and report how many and why) instead of failing",
    )
    parser.set_defaults(handler=run)


def _offset(text: str) -> timedelta:
    match = _OFFSET.fullmatch(text.strip())
    if not match:
        msg = f"{text!r} is not an offset such as +05:30 or -0400"
        raise argparse.ArgumentTypeError(msg)
    sign, hours, minutes = match.groups()
    value = timedelta(hours=int(hours), minutes=int(minutes))
    return -value if sign == "-" else value


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 1.0:
        msg = f"{text!r} is not a confidence level between 0 and 1 (e.g. 0.95)"
        raise argparse.ArgumentTypeError(msg)
    return value


def _count(text: str) -> int:
    if not text.strip().isdigit():
        msg = f"{text!r} is not a whole number of 0 or more"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _clean(value: Any) -> Any:  # noqa: ANN401 - JSON-ready scalars
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _read_frame(args: argparse.Namespace) -> ResponseFrame:
    """The answers of the file the command line names, read with its column options."""
    from cxcore.scoring.frame import ResponseFrame  # noqa: PLC0415 - numpy is loaded only to score

    path: Path = args.file
    if not path.exists():  # said here: pyarrow's own error does not name the file
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    if path.is_dir():
        msg = f"{path}: is a directory (expected a .csv or .parquet file)"
        raise UsageError(msg)
    options: dict[str, Any] = {
        "metric": args.metric_column,
        "score": args.score_column,
        "time": args.time_column,
        "weight": args.weight_column,
        "invalid": "drop" if args.drop_invalid else "raise",
        "include_agents": args.include_agents,
    }
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return ResponseFrame.from_csv(path, **options)
    if suffix in (".parquet", ".pq"):
        return ResponseFrame.from_parquet(path, **options)
    msg = f"{path}: has suffix {path.suffix!r} (expected .csv or .parquet)"
    raise UsageError(msg)


def run(args: argparse.Namespace) -> int:
    """Run ``cxcore score``: print the scores and return 0.

    Raises:
        UsageError: For an unknown metric, a file of another kind, or options
            that do not fit the file (exit status 2).
        OSError: If the file cannot be opened (exit status 2).
        CxError: If the file has invalid rows or lacks a column (exit status 1).

    .. versionadded:: 0.1.0
    """
    from cxcore.scoring.batch import score  # noqa: PLC0415 - numpy is loaded only to score

    try:
        metric_registry().get(args.metric)
    except UnknownMetricError as exc:
        msg = f"--metric: {exc}"
        raise UsageError(msg) from None
    frame = _read_frame(args)
    if frame.dropped:
        reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(frame.dropped.items()))
        dropped = sum(frame.dropped.values())
        sys.stderr.write(f"cxcore score: dropped {dropped} invalid rows: {reasons}\n")
    try:
        table = score(
            frame,
            args.metric,
            by=args.by,
            every=args.every,
            interval=args.interval,
            confidence=args.confidence,
            weighted=args.weight_column is not None,
            min_n=args.min_n,
            utc_offset=args.utc_offset,
        )
    except CxError as exc:  # the options do not fit the file (--by a column it lacks...)
        wanted = [name.strip() for name in args.by.split(",") if name.strip()]
        missing = [name for name in wanted if name not in frame.dimensions]
        if missing:
            columns = ", ".join(frame.dimensions) or "none besides the metric and score"
            msg = (
                f"--by: {args.file} has no column {missing[0]!r}"
                f"{did_you_mean(missing[0], frame.dimensions)} (its other columns: {columns})"
            )
            raise UsageError(msg) from None
        raise UsageError(str(exc)) from None
    records = []
    for cell in table:
        record: dict[str, Any] = dict(zip(cell.by, cell.key, strict=True))
        if cell.period is not None or table.every is not None:
            record["period"] = None if cell.period is None else cell.period.isoformat()
        record.update(
            metric=cell.metric,
            n=cell.n,
            score=cell.score,
            low=cell.low,
            high=cell.high,
            low_n=cell.low_n,
        )
        records.append({k: _clean(v) for k, v in record.items()})
    header = [*table.by, *(["period"] if table.every is not None else []), *_FIELDS]
    out = sys.stdout
    if args.format == "json":
        json.dump(records, out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif args.format == "csv":
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    else:
        _print_table(records, header, out)
    return 0


def _format(value: Any) -> str:  # noqa: ANN401 - any cell value
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _print_table(records: list[dict[str, Any]], header: list[str], out: Any) -> None:  # noqa: ANN401
    rows = [[_format(r.get(h)) for h in header] for r in records]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(header)]
    numeric = {"n", "score", "low", "high"}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if h in numeric else c.ljust(w)
            for c, w, h in zip(cells, widths, header, strict=True)
        ).rstrip()

    out.write(line(header) + "\n")
    for row in rows:
        out.write(line(row) + "\n")
