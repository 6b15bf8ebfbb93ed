"""Text analytics: sentiment and themes of customer comments, against the bare libraries.

Synthetic comments (10,000 by default, every one distinct) in the style of retail
feedback: a few sentences about billing, staff, delivery, stock, cleanliness,
with a share written in Devanagari and in romanised Hindi. Each case is timed
next to a baseline measured in the same run, on the same comments:

* sentiment: cxcore's ``sentiment`` (script and language checks, then VADER)
  against a bare loop of VADER's ``polarity_scores``. Target: at least 5,000
  comments per second.
* themes: cxcore's ``themes`` (10 themes, with labels, examples and
  assignment) against scikit-learn's TfidfVectorizer + NMF alone with the same
  settings. Target: under 10 s on 2 cores.

Prints one JSON line per case. Only ratios measured in one run mean anything.

    PYTHONPATH=src python benchmarks/bench_text.py [--comments N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable

from _peers import skipped

BENCH = "text"
# The terms cxcore's themes count (cxcore.analysis.text), so both sides build one vocabulary.
TERM = r"(?u)(?:[^\W\d_]|[\u0900-\u0DFF])(?:\w|[\u0900-\u0DFF])+"
INSTALL = "install the text extra: pip install 'cxcore[text]'"

TOPICS = {
    "billing": (
        "the billing queue was {adj_bad}",
        "billing took {minutes} minutes at counter {n}",
        "the cashier at counter {n} was {adj_staff}",
        "payment by card failed twice and the line was {adj_bad}",
    ),
    "staff": (
        "the staff in the {section} section were {adj_staff}",
        "{name} helped me find a {item}, {adj_good} service",
        "nobody in {section} could answer a simple question",
        "the manager was {adj_staff} when I asked about a refund",
    ),
    "delivery": (
        "my {item} was delivered {days} days late",
        "the courier left the parcel at the wrong address",
        "delivery was {adj_good} and the package was intact",
        "tracking showed delivered but the {item} never came",
    ),
    "stock": (
        "the {item} I wanted was out of stock again",
        "{section} shelves were empty on a {day}",
        "good range of {item}s and fresh {section}",
        "prices of {item}s went up since last month",
    ),
    "store": (
        "the store was {adj_clean} and the AC was working",
        "the trial rooms were {adj_clean}",
        "parking near the store is a nightmare on a {day}",
        "loved the new layout, easy to find {item}s",
    ),
}
WORDS = {
    "adj_bad": ("slow", "painfully slow", "very long", "chaotic", "not moving"),
    "adj_good": ("great", "excellent", "quick", "smooth", "wonderful"),
    "adj_staff": ("rude", "friendly", "helpful", "polite", "impatient", "very kind"),
    "adj_clean": ("clean", "dirty", "spotless", "messy"),
    "section": ("grocery", "electronics", "clothing", "home", "fruit"),
    "item": ("shirt", "phone", "rice bag", "mixer", "kurta", "shoe", "television"),
    "day": ("Sunday", "Saturday", "holiday", "weekday"),
    "name": ("Ravi", "Priya", "Anil", "Sunita", "the floor lead"),
}
ENDINGS = ("", " Never again!", " Thank you.", " Please fix this.", " Will come back.", "!!")
DEVANAGARI = ("बिलिंग में बहुत समय लगा", "स्टाफ बहुत अच्छा था", "डिलीवरी देर से आई", "दुकान साफ थी")
HINGLISH = (
    "billing mein bahut time laga yaar",
    "staff bahut accha tha, helpful bhi",
    "delivery late thi aur koi call nahi aaya",
)


def make_comments(n: int, seed: int = 0) -> list[str]:
    """*n* distinct comments: 1-3 sentences on random topics, 5% Devanagari, 3% romanised Hindi."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        roll = rng.random()
        if roll < 0.05:
            text = f"{rng.choice(DEVANAGARI)} ({rng.randint(1, 10**6)})"
        elif roll < 0.08:
            text = f"{rng.choice(HINGLISH)} {rng.randint(1, 10**6)}"
        else:
            sentences = []
            for _ in range(rng.randint(1, 3)):
                template = rng.choice(TOPICS[rng.choice(list(TOPICS))])
                fields = {k: rng.choice(v) for k, v in WORDS.items()}
                fields.update(
                    minutes=rng.randint(5, 60), n=rng.randint(1, 12), days=rng.randint(2, 9)
                )
                sentences.append(template.format(**fields))
            text = (". ".join(sentences) + "." + rng.choice(ENDINGS)).capitalize()
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def emit(**fields: object) -> None:
    print(json.dumps({"bench": BENCH, **fields}), flush=True)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_sentiment(comments: list[str], repeat: int) -> None:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # noqa: PLC0415
    except ImportError as exc:
        skipped(BENCH, "sentiment", f"vaderSentiment is not installed ({exc}); {INSTALL}")
        return
    from cxcore.analysis import sentiment  # noqa: PLC0415

    analyzer = SentimentIntensityAnalyzer()
    sentiment(comments[:10])  # load the lexicon once, as a warm process would have
    n = len(comments)

    def bare() -> None:
        for text in comments:
            analyzer.polarity_scores(text)

    baseline = best(bare, repeat)
    ours = best(lambda: sentiment(comments), repeat)
    scored = sentiment(comments).counts()
    emit(
        case="vaderSentiment polarity_scores loop (baseline)",
        comments=n,
        seconds=round(baseline, 6),
        comments_per_second=round(n / baseline),
    )
    emit(
        case="cxcore sentiment (script and language checks, then VADER)",
        comments=n,
        seconds=round(ours, 6),
        comments_per_second=round(n / ours),
        ratio_to_baseline=round(ours / baseline, 3),
        baseline="vaderSentiment polarity_scores loop",
        not_scored=scored["not scored"],
        target_comments_per_second=5000,
        meets_target=n / ours >= 5000,
    )


def bench_themes(comments: list[str], repeat: int, n_themes: int) -> None:
    try:
        from sklearn.decomposition import NMF  # noqa: PLC0415
        from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415
    except ImportError as exc:
        skipped(BENCH, "themes", f"scikit-learn is not installed ({exc}); {INSTALL}")
        return
    import numpy as np  # noqa: PLC0415

    from cxcore.analysis import themes  # noqa: PLC0415

    def bare() -> None:
        matrix = TfidfVectorizer(
            stop_words="english",
            ngram_range=(1, 2),
            token_pattern=TERM,
            min_df=2,
            max_df=0.95,
            max_features=20_000,
            sublinear_tf=True,
            dtype=np.float64,
        ).fit_transform(comments)
        NMF(n_components=n_themes, init="nndsvda", random_state=0, max_iter=500).fit_transform(
            matrix
        )

    baseline = best(bare, repeat)
    ours = best(lambda: themes(comments, n_themes, seed=0), repeat)
    found = themes(comments, n_themes, seed=0)
    emit(
        case=f"scikit-learn TF-IDF + NMF, {n_themes} components (baseline)",
        comments=len(comments),
        seconds=round(baseline, 6),
    )
    emit(
        case=f"cxcore themes, {n_themes} themes with labels and examples",
        comments=len(comments),
        seconds=round(ours, 6),
        ratio_to_baseline=round(ours / baseline, 3),
        baseline=f"scikit-learn TF-IDF + NMF, {n_themes} components",
        labels=[t.label for t in found],
        target_seconds=10,
        meets_target=ours < 10,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--comments", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--themes", type=int, default=10)
    args = parser.parse_args()
    comments = make_comments(args.comments)
    bench_sentiment(comments, args.repeat)
    bench_themes(comments, args.repeat, args.themes)


if __name__ == "__main__":
    main()
