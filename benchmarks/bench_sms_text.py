"""SMS text checks per send, against the unavoidable work, in the same run.

Every SMS send counts its segments and, to a +91 number, matches its text
against a DLT template. Each case is timed against a baseline doing the least
any correct implementation must do in Python on the same texts:

* counting segments: one pass over the characters with a set lookup each
  (the GSM-7 test), then the text's UTF-16 length;
* DLT matching: :func:`re.fullmatch` of the template as a compiled regular
  expression (each ``{#var#}`` as ``(.{0,30})``), which runs in C.

Prints one JSON line per case: texts per second, and the ratio of the
baseline's speed to ours (how many times slower we are). Targets: counting
<= 3x, DLT matching <= 15x (a few microseconds either way: far below a send's
network round trip).

    python benchmarks/bench_sms_text.py [--texts 20000] [--repeat 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Callable, Sequence

from cxcore_channels.sms.dlt import DltTemplate
from cxcore_channels.sms.segments import GSM7_BASIC, GSM7_EXTENSION, count_segments

GSM = GSM7_BASIC | GSM7_EXTENSION
NAMES = ["Asha", "Ravi Kumar", "Meenakshi Sundaram", "Chen", "Élodie", "Zoë", "Prakash"]
STORES = ["Koramangala", "Andheri West", "Salt Lake", "Connaught Place", "Jubilee Hills"]
VISIT = DltTemplate(
    "1207161234567890123",
    "Dear {#var#}, thank you for shopping at Bazaar {#var#}. "
    "How likely are you to recommend us? Rate us 0-10: {#var#}",
)


def texts(n: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """*n* invitation texts (a quarter UCS-2, some two parts), and *n* DLT instances."""
    plain, dlt = [], []
    for i in range(n):
        name, store = rng.choice(NAMES), rng.choice(STORES)
        link = f"https://bz.in/s/{i:08x}"
        text = VISIT.fill(name, store, link)
        dlt.append(text)
        if i % 4 == 0:
            text += " \U0001f64f"  # an emoji: UCS-2
        if i % 3 == 0:
            text += " Reply STOP to opt out. " + "Thanks! " * 8  # past one part
        plain.append(text)
    return plain, dlt


def baseline_count(text: str) -> tuple[bool, int]:
    """The floor: is every character GSM-7 (a set lookup each), and how long in UTF-16."""
    return all(c in GSM for c in text), len(text.encode("utf-16-le")) // 2


def oracle(template: DltTemplate) -> re.Pattern[str]:
    pattern = [re.escape(template.literals[0])]
    for literal in template.literals[1:]:
        pattern += [f"(.{{0,{template.max_slot_length}}})", re.escape(literal)]
    return re.compile("".join(pattern), re.DOTALL)


def best_of(fn: Callable[[Sequence[str]], object], items: Sequence[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(items)
        best = min(best, time.perf_counter() - start)
    return best


def report(case: str, n: int, ours: float, base: float, baseline: str) -> None:
    print(
        json.dumps(
            {
                "bench": "sms_text",
                "case": case,
                "texts": n,
                "seconds": round(ours, 6),
                "per_second": round(n / ours),
                "baseline": baseline,
                "baseline_per_second": round(n / base),
                "ratio": round(ours / base, 2),
            }
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few texts, once")
    args = parser.parse_args(argv)
    n, repeat = (200, 1) if args.quick else (args.texts, args.repeat)
    plain, dlt = texts(n, random.Random(7))
    compiled = oracle(VISIT)

    # The two agree before either is timed.
    for text in plain:
        seg = count_segments(text)
        gsm, units = baseline_count(text)
        assert (seg.encoding.value == "GSM-7") == gsm
        assert gsm or seg.units == units
    for text in dlt:
        assert VISIT.match(text) == compiled.fullmatch(text).groups()  # type: ignore[union-attr]

    ours = best_of(lambda items: [count_segments(t) for t in items], plain, repeat)
    base = best_of(lambda items: [baseline_count(t) for t in items], plain, repeat)
    report("count_segments", n, ours, base, "set lookup per character + UTF-16 length")
    ours = best_of(lambda items: [VISIT.match(t) for t in items], dlt, repeat)
    base = best_of(lambda items: [compiled.fullmatch(t) for t in items], dlt, repeat)
    report("DLT template match (3 slots)", n, ours, base, "re.fullmatch of the same template")
    return 0


if __name__ == "__main__":
    sys.exit(main())
