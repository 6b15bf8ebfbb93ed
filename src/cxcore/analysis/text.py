"""Text analytics, offline: sentiment with VADER, themes with TF-IDF and NMF, mismatch flags.

Needs the ``text`` extra (``pip install 'cxcore[text]'``): vaderSentiment,
which ships its lexicon, and scikit-learn. Nothing is downloaded at run time,
and both are imported on first use.

VADER scores English. A comment in another script (Devanagari, Tamil...) or
that reads as another language written in Latin letters (romanised Hindi,
Spanish...) gets no sentiment, with the reason, never a made-up score.
"""

from __future__ import annotations

import enum
import numbers
import re
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import attrs

from cxcore.display import (
    DEFAULT_MAX_ROWS,
    Column,
    Table,
    TableDisplay,
    fmt_count,
    fmt_percent,
    number_format,
)
from cxcore.errors import CxError
from cxcore.metrics import MetricRegistry, metric_registry
from cxcore.model.response import Response
from cxcore.model.survey import ScoredQuestion, Survey, TextQuestion
from cxcore.scoring._optional import optional_module

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "HAPPY",
    "NEGATIVE",
    "POSITIVE",
    "UPSET",
    "Comments",
    "Mismatch",
    "MismatchKind",
    "Sentiment",
    "Sentiments",
    "Theme",
    "Themes",
    "mismatches",
    "sentiment",
    "themes",
]

POSITIVE = 0.05
"""A compound score at or above this is positive (VADER's own threshold)."""
NEGATIVE = -0.05
"""A compound score at or below this is negative (VADER's own threshold)."""
UPSET = -0.5
"""A compound score at or below this is an angry comment, for :func:`mismatches`."""
HAPPY = 0.5
"""A compound score at or above this is a happy comment, for :func:`mismatches`."""

SentimentLabel = Literal["positive", "neutral", "negative"]

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")  # words of letters, with "don't"


# Common function words: evidence that a comment in Latin letters is English, or is not.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ENGLISH = _words(
    """a about after again all also am an and any are as at be been before but by can could
    did do does doing don't down even ever for from get got had has have he her here him his
    how i i'm if in into is it it's its just me more most much my no not now of off on once
    only or other our out over so some such than that the their them then there these they
    this those through to too under until up us very was we were what when where which while
    who why will with would you your"""
)
_OTHER_LANGUAGES = {
    "romanised Hindi": _words(
        """hai hain tha thi the nahi nahin nhi bahut bohot bahot accha acha achha aur bhi ka ki
        ke ko se mein mujhe hum humko kya kuch kar kiya diya wala wali yaar ekdum bilkul lekin
        sab bhai ji koi hua hui raha rahi gaya gayi"""
    )
    - _ENGLISH,
    "Spanish": _words(
        """el la los las de del que y en un una por para con muy pero es fue su al lo se
        como mas más servicio bueno buena malo mala"""
    )
    - _ENGLISH,
    "French": _words(
        """le la les de des du et est un une que qui pas très tres avec pour dans sur je nous
        vous il elle mais ce cette été était bon bonne mauvais"""
    )
    - _ENGLISH,
    "German": _words(
        """der das und ist nicht ein eine zu mit sehr auch ich wir sie war aber für auf den dem
        gut schlecht"""
    )
    - _ENGLISH,
    "Portuguese": _words(
        """o os da das do dos que e em um uma por para com muito mas foi não nao atendimento
        bom boa ruim"""
    )
    - _ENGLISH,
}


# A term starts with a letter and runs on through letters, digits and the vowel signs
# of the Indic scripts (U+0900-U+0DFF), which Python's \w leaves out: "बिलिंग" stays one word.
_TERM = r"(?u)(?:[^\W\d_]|[\u0900-\u0DFF])(?:\w|[\u0900-\u0DFF])+"


def _foreign_index() -> dict[str, tuple[str, ...]]:
    """Each word of another language's list, and the languages whose list has it."""
    index: dict[str, tuple[str, ...]] = {}
    for name, vocabulary in _OTHER_LANGUAGES.items():
        for word in vocabulary:
            index[word] = (*index.get(word, ()), name)
    return index


_FOREIGN = _foreign_index()


@cache
def _english_words() -> frozenset[str]:
    """English function words, and every word and emoticon in VADER's lexicon."""
    return _ENGLISH | frozenset(_analyzer().lexicon)


@cache
def _analyzer() -> Any:  # noqa: ANN401 - vaderSentiment's SentimentIntensityAnalyzer
    vader = optional_module("vaderSentiment.vaderSentiment", "sentiment of comments")
    return vader.SentimentIntensityAnalyzer()


def _script(text: str) -> str:
    """The script most of *text*'s letters are in (``"Latin"``), or ``""`` without letters."""
    if text.isascii():
        return "Latin" if any(c.isalpha() for c in text) else ""
    scripts: Counter[str] = Counter()
    for c in text:
        if c.isalpha():
            name = unicodedata.name(c, "")
            scripts[name.split(" ", 1)[0].capitalize() if name else "Unknown"] += 1
    if not scripts:
        return ""
    script, _ = scripts.most_common(1)[0]
    return "Han (CJK)" if script == "Cjk" else script


@attrs.frozen
class Sentiment:
    """The sentiment of one comment, or why it has none.

    Attributes:
        text: The comment.
        compound: VADER's compound score, from -1 (most negative) to 1, or
            ``None`` when the comment is not scored.
        positive: The share of the text that is positive (VADER's ``pos``).
        neutral: The neutral share.
        negative: The negative share.
        label: ``positive`` (compound >= 0.05), ``negative`` (<= -0.05),
            ``neutral`` in between, or ``None`` when not scored.
        script: The script most of its letters are in (``"Latin"``,
            ``"Devanagari"``...), ``""`` if it has no letters.
        reason: Why it has no sentiment (``None`` when it has one).

    .. versionadded:: 0.1.0
    """

    text: str | None
    compound: float | None
    positive: float | None
    neutral: float | None
    negative: float | None
    label: SentimentLabel | None
    script: str
    reason: str | None

    @property
    def scored(self) -> bool:
        """Whether the comment has a sentiment."""
        return self.compound is not None

    def to_dict(self) -> dict[str, Any]:
        """The sentiment as plain JSON-ready data."""
        return attrs.asdict(self)


def _unscored(text: str | None, script: str, reason: str) -> Sentiment:
    return Sentiment(text, None, None, None, None, None, script, reason)


def _not_english(text: str, language: str | None) -> tuple[str, str | None]:
    """The script of *text*, and why VADER cannot score it (``None`` if it can)."""
    script = _script(text)
    if language is not None and not re.fullmatch(r"en([-_].*)?", language, flags=re.IGNORECASE):
        return script, f"the comment's language is {language!r}; VADER scores English only"
    if script not in {"Latin", ""}:
        return script, f"written in {script} script; VADER scores English only"
    if not script:
        return script, None  # emoji and emoticons: VADER has them
    words = _WORD.findall(text.lower())
    known = _english_words()
    english = sum(map(known.__contains__, words))
    if len(words) - english >= 2 and len(words) - english > english:  # else English wins
        hits = dict.fromkeys(_OTHER_LANGUAGES, 0)
        for w in words:
            if w not in known:
                for name in _FOREIGN.get(w, ()):
                    hits[name] += 1
        best = max(hits, key=hits.__getitem__)  # the first listed, on a tie
        if hits[best] >= 2 and hits[best] > english:
            return script, f"reads as {best}, not English; VADER scores English only"
    if len(words) >= 4 and english == 0:
        return script, "no English words recognised; VADER scores English only"
    return script, None


def _one(text: str | None, language: str | None) -> Sentiment:
    raw: object = text  # anything may have been passed
    if raw is not None and not isinstance(raw, str):
        msg = f"comment {raw!r} is not text"
        raise CxError(msg)
    if text is None or not text.strip():
        return _unscored(text, "", "no comment")
    script, reason = _not_english(text, language)
    if reason is not None:
        return _unscored(text, script, reason)
    scores = _analyzer().polarity_scores(text)
    compound = float(scores["compound"])
    label: SentimentLabel = (
        "positive" if compound >= POSITIVE else "negative" if compound <= NEGATIVE else "neutral"
    )
    return Sentiment(
        text,
        compound,
        float(scores["pos"]),
        float(scores["neu"]),
        float(scores["neg"]),
        label,
        script,
        None,
    )


def _short(text: str | None, width: int = 60) -> str:
    if text is None:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


class Sentiments(TableDisplay, Sequence[Sentiment]):
    """The sentiment of each of several comments, in order.

    A sequence of :class:`Sentiment`, with the compound scores as a numpy
    column (NaN where a comment has none) and tidy exports.

    .. versionadded:: 0.1.0
    """

    def __init__(self, items: Sequence[Sentiment]) -> None:
        self._items = tuple(items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> Sentiment:  # type: ignore[override]
        return self._items[i]

    def __iter__(self) -> Iterator[Sentiment]:
        return iter(self._items)

    @property
    def compound(self) -> NDArray[np.float64]:
        """Each comment's compound score, NaN where it has none."""
        import numpy as np  # noqa: PLC0415 - numpy on first use

        return np.array(
            [np.nan if s.compound is None else s.compound for s in self._items], dtype=np.float64
        )

    def counts(self) -> dict[str, int]:
        """How many comments are positive, neutral, negative, and not scored."""
        out = {"positive": 0, "neutral": 0, "negative": 0, "not scored": 0}
        for s in self._items:
            out[s.label or "not scored"] += 1
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """Every sentiment as a plain dict."""
        return [s.to_dict() for s in self._items]

    def to_pandas(self) -> Any:  # noqa: ANN401 - a pandas.DataFrame
        """The sentiments as a pandas DataFrame, one row per comment."""
        pd = optional_module("pandas", "exporting sentiments to pandas")
        return pd.DataFrame(self.to_records(), columns=[f.name for f in attrs.fields(Sentiment)])

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The sentiments as one table (rendered by ``cxcore.display``)."""
        counts = ", ".join(f"{k} {v:,}" for k, v in self.counts().items())
        return Table(
            title=f"Sentiment of {len(self):,} comments: {counts}",
            columns=(
                Column("comment"),
                Column("sentiment"),
                Column("compound", format=number_format(3, signed=True), align="right"),
                Column("script"),
                Column("why not scored"),
            ),
            rows=_SentimentRows(self._items),
            notes=(
                (
                    "VADER's compound score, from -1 to 1: positive at 0.05 or more, negative "
                    "at -0.05 or less. Comments not in English get no score."
                ),
            ),
            max_rows=max_rows,
        )

    def __repr__(self) -> str:
        return self.display_text()


class _SentimentRows(Sequence[tuple[object, ...]]):
    """The rows of a sentiment table, built only for the rows shown."""

    def __init__(self, items: Sequence[Sentiment]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> tuple[object, ...]:  # type: ignore[override]
        s = self._items[i]
        return (_short(s.text), s.label, s.compound, s.script, s.reason or "")


def sentiment(
    comments: Iterable[str | None], *, languages: Iterable[str | None] | None = None
) -> Sentiments:
    """The VADER sentiment of each comment, or the plain reason it has none.

    A comment that is empty, written in a script other than Latin, or that
    reads as another language in Latin letters (romanised Hindi, Spanish,
    French, German, Portuguese) gets no score. So does one whose declared
    language (in *languages*, one per comment) is not English.

    >>> s = sentiment(["The staff were lovely, great service!", "Billing took forever, awful.",
    ...                "बिलिंग बहुत धीमी थी", "bahut accha tha, staff bhi helpful hai"])
    >>> [x.label for x in s]
    ['positive', 'negative', None, None]
    >>> s[2].reason
    'written in Devanagari script; VADER scores English only'
    >>> s[3].reason
    'reads as romanised Hindi, not English; VADER scores English only'

    Args:
        comments: The comments (``None`` for a missing one).
        languages: Each comment's language, if known (``"en"``, ``"hi"``...).

    Raises:
        MissingDependencyError: Without the ``text`` extra.
        CxError: If a comment is not text, or *languages* has another length.

    .. versionadded:: 0.1.0
    """
    texts = list(comments)
    langs = [None] * len(texts) if languages is None else list(languages)
    if len(langs) != len(texts):
        msg = f"languages: {len(langs)} given for {len(texts)} comments (expected one each)"
        raise CxError(msg)
    _analyzer()  # fails early, with the install hint, without the extra
    seen: dict[tuple[str | None, str | None], Sentiment] = {}
    out = []
    for text, lang in zip(texts, langs, strict=True):
        key = (text, lang)
        found = seen.get(key)
        if found is None:
            found = seen[key] = _one(text, lang)
        out.append(found)
    return Sentiments(out)


# -- mismatch flags --------------------------------------------------------------------


class MismatchKind(enum.StrEnum):
    """How a score and its comment disagree.

    .. versionadded:: 0.1.0
    """

    HIGH_SCORE_ANGRY_COMMENT = "high score, angry comment"
    LOW_SCORE_HAPPY_COMMENT = "low score, happy comment"


@attrs.frozen
class Mismatch:
    """A response whose score and comment disagree: worth a human look.

    Attributes:
        index: Its position in the input.
        kind: High score with an angry comment, or low score with a happy one.
        score: The score.
        bucket: The score's bucket (``"promoter"``, ``"detractor"``...).
        text: The comment.
        compound: The comment's VADER compound score.
        id: The response's id, if ids were given.

    .. versionadded:: 0.1.0
    """

    index: int
    kind: MismatchKind
    score: int
    bucket: str
    text: str
    compound: float
    id: str | None = None


def mismatches(
    scores: Sequence[int] | NDArray[np.integer[Any]],
    comments: Sequence[str | None] | Sentiments,
    *,
    metric: str = "nps",
    ids: Sequence[str] | None = None,
    upset: float = UPSET,
    happy: float = HAPPY,
    registry: MetricRegistry | None = None,
) -> list[Mismatch]:
    """Flag a high score with an angry comment, and a low score with a happy one.

    High is the metric's positive bucket (NPS promoters, CSAT top-2-box), low
    its negative bucket (detractors, bottom-2-box). A comment without a
    sentiment (not English, or empty) is never flagged.

    >>> flags = mismatches([10, 2, 9, 0], ["Terrible, rude staff and I hate the queue.",
    ...                                     "Wonderful people, love this store!",
    ...                                     "Great!", "Awful."])
    >>> [(f.index, f.kind.value, f.bucket) for f in flags]
    [(0, 'high score, angry comment', 'promoter'), (1, 'low score, happy comment', 'detractor')]

    Args:
        scores: Each response's answer on the metric's scale.
        comments: Each response's comment, or their :func:`sentiment`.
        metric: The metric the scores answer.
        ids: Each response's id, carried into the flags.
        upset: A compound score at or below this is angry.
        happy: A compound score at or above this is happy.
        registry: Where the metric is defined (the process-wide registry by default).

    Raises:
        CxError: If the lengths differ, a score is off the scale, or the
            metric has no negative bucket.

    .. versionadded:: 0.1.0
    """
    spec = (metric_registry() if registry is None else registry).get(metric)
    if spec.negative is None:
        msg = f"metric {metric!r} has no negative bucket, so no score of it is low"
        raise CxError(msg)
    sentiments = comments if isinstance(comments, Sentiments) else sentiment(comments)
    if len(sentiments) != len(scores) or (ids is not None and len(ids) != len(scores)):
        what = f"{len(scores)} scores, {len(sentiments)} comments"
        if ids is not None:
            what += f", {len(ids)} ids"
        msg = f"scores, comments and ids must have one entry per response (got {what})"
        raise CxError(msg)
    bucket_of = {
        level: spec.buckets[b].name if b >= 0 else ""
        for level, b in zip(spec.levels, spec.bucket_table(), strict=True)
    }
    values: list[object] = list(scores)  # numpy integers are welcome too
    bad = [
        f"[{i}] {v!r}"
        for i, v in enumerate(values)
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) not in bucket_of
    ]
    if bad:
        shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        msg = f"scores: {shown} not on {metric}'s scale ({spec.low} to {spec.high})"
        raise CxError(msg)
    out = []
    for i, (s, feeling) in enumerate(zip(scores, sentiments, strict=True)):
        if feeling.compound is None or feeling.text is None:
            continue
        bucket = bucket_of[int(s)]
        kind = None
        if bucket == spec.positive and feeling.compound <= upset:
            kind = MismatchKind.HIGH_SCORE_ANGRY_COMMENT
        elif bucket == spec.negative and feeling.compound >= happy:
            kind = MismatchKind.LOW_SCORE_HAPPY_COMMENT
        if kind is not None:
            out.append(
                Mismatch(
                    i,
                    kind,
                    int(s),
                    bucket,
                    feeling.text,
                    feeling.compound,
                    None if ids is None else ids[i],
                )
            )
    return out


# -- themes ------------------------------------------------------------------------------


@attrs.frozen
class Theme:
    """One theme found in the comments.

    Attributes:
        label: Its top terms, joined with " / " (``"billing / queue / slow"``).
        terms: Its top terms, strongest first.
        weights: Each term's weight in the theme.
        size: Comments assigned to it (each comment goes to its strongest theme).
        share: ``size`` as a fraction of the comments with any terms.
        examples: The comments that express it most strongly.

    .. versionadded:: 0.1.0
    """

    label: str
    terms: tuple[str, ...]
    weights: tuple[float, ...]
    size: int
    share: float
    examples: tuple[str, ...]


class Themes(TableDisplay, Sequence[Theme]):
    """Themes found in comments, largest first, and the theme of every comment.

    Attributes:
        assignment: Per comment, the index of its theme, or -1 for a comment
            with no term the model knows (empty, or only stop words).
        strength: Per comment, the weight of its theme (0 where unassigned).
        seed: The seed the themes were found with.
        converged: Whether NMF converged within ``max_iter`` iterations; if
            not, the themes are usable but rough (raise ``max_iter``).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        themes: Sequence[Theme],
        assignment: NDArray[np.int64],
        strength: NDArray[np.float64],
        seed: int,
        *,
        converged: bool = True,
    ) -> None:
        self._themes = tuple(themes)
        self.assignment = assignment
        self.strength = strength
        self.seed = seed
        self.converged = converged

    def __len__(self) -> int:
        return len(self._themes)

    def __getitem__(self, i: int) -> Theme:  # type: ignore[override]
        return self._themes[i]

    def __iter__(self) -> Iterator[Theme]:
        return iter(self._themes)

    def of(self, i: int) -> Theme | None:
        """The theme of comment *i*, or ``None`` if it has none."""
        k = int(self.assignment[i])
        return None if k < 0 else self._themes[k]

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per theme."""
        return [
            {
                "theme": k,
                "label": t.label,
                "terms": list(t.terms),
                "size": t.size,
                "share": t.share,
                "examples": list(t.examples),
            }
            for k, t in enumerate(self._themes)
        ]

    def to_pandas(self) -> Any:  # noqa: ANN401 - a pandas.DataFrame
        """The themes as a pandas DataFrame, one row per theme."""
        pd = optional_module("pandas", "exporting themes to pandas")
        return pd.DataFrame(self.to_records())

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The themes as one table (rendered by ``cxcore.display``)."""
        unassigned = int((self.assignment < 0).sum())
        return Table(
            title=f"{len(self)} themes in {len(self.assignment):,} comments (seed {self.seed})",
            columns=(
                Column("#", align="right"),
                Column("theme"),
                Column("comments", format=fmt_count, align="right"),
                Column("share", format=fmt_percent, align="right"),
                Column("example"),
            ),
            rows=[
                (k, t.label, t.size, t.share, _short(t.examples[0] if t.examples else None))
                for k, t in enumerate(self._themes)
            ],
            notes=(
                (
                    "Themes from TF-IDF of words and word pairs, factorised by NMF; each "
                    "comment counts in its strongest theme."
                ),
                f"{unassigned:,} comments have no theme (empty, or only stop words).",
                *(
                    ()
                    if self.converged
                    else ("NMF stopped before converging: rough themes (raise max_iter).",)
                ),
            ),
            max_rows=max_rows,
        )

    def __repr__(self) -> str:
        return self.display_text()


def _label(terms: Sequence[str], size: int = 3) -> str:
    """The first *size* terms, skipping a term that shares a word with the label already."""
    chosen: list[str] = []
    words: set[str] = set()
    for term in terms:
        parts = set(term.split())
        if parts & words:
            continue
        chosen.append(term)
        words |= parts
        if len(chosen) == size:
            break
    return " / ".join(chosen)


def _factorise(
    matrix: Any,  # noqa: ANN401 - a scipy sparse matrix
    n_themes: int,
    seed: int,
    max_iter: int,
) -> tuple[Any, Any, bool]:
    """NMF's comment weights, its theme terms, and whether it converged (not a warning)."""
    decomposition = optional_module("sklearn.decomposition", "themes of comments")
    model = decomposition.NMF(
        n_components=n_themes, init="nndsvda", random_state=seed, max_iter=max_iter, tol=1e-4
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        weights = model.fit_transform(matrix)
    stopped = [w for w in caught if "Maximum number of iterations" in str(w.message)]
    for w in caught:  # anything else is the user's to see
        if w not in stopped:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return weights, model.components_, not stopped


def themes(  # noqa: PLR0915 - checks, the model, then each theme's parts
    comments: Sequence[str | None],
    n_themes: int = 8,
    *,
    seed: int = 0,
    top_terms: int = 8,
    examples: int = 3,
    min_df: int = 2,
    max_df: float = 0.95,
    max_features: int = 20_000,
    stop_words: Literal["english"] | Sequence[str] | None = "english",
    max_iter: int = 500,
) -> Themes:
    """Cluster comments into labelled themes: TF-IDF of words and word pairs, then NMF.

    Each theme is a non-negative combination of terms; its label is its top
    terms, and its examples are the comments that load on it most. Each
    comment is assigned to its strongest theme. The same comments, seed and
    settings give the same themes.

    >>> comments = ["billing queue was slow", "slow billing, long queue", "queue at billing slow",
    ...             "staff were friendly", "friendly helpful staff", "helpful staff, friendly"] * 3
    >>> found = themes(comments, 2, seed=1)
    >>> [t.size for t in found]
    [9, 9]
    >>> found.of(0) == found.of(1), found.of(0) == found.of(3)   # billing, billing, staff
    (True, False)
    >>> sorted(found.of(0).terms[:3])
    ['billing', 'queue', 'slow']

    Args:
        comments: The comments (``None`` for a missing one).
        n_themes: How many themes to find.
        seed: The seed of NMF's initialisation.
        top_terms: Terms kept per theme.
        examples: Example comments kept per theme.
        min_df: Ignore terms found in fewer comments than this.
        max_df: Ignore terms found in more than this share of comments.
        max_features: Keep at most this many terms, the most frequent.
        stop_words: Words to ignore: ``"english"`` (scikit-learn's list), your
            own list, or ``None``.
        max_iter: NMF's iterations at most (see ``Themes.converged``).

    Raises:
        MissingDependencyError: Without the ``text`` extra.
        CxError: With fewer comments with terms than themes, or bad settings.

    .. versionadded:: 0.1.0
    """
    import numpy as np  # noqa: PLC0415 - numpy on first use

    settings: tuple[tuple[str, object], ...] = (
        ("n_themes", n_themes),
        ("top_terms", top_terms),
        ("examples", examples),
        ("min_df", min_df),
        ("max_iter", max_iter),
    )
    for name, value in settings:
        if not isinstance(value, int) or value < 1:
            msg = f"{name}: {value!r} is not a whole number, 1 or more"
            raise CxError(msg)
    text = optional_module("sklearn.feature_extraction.text", "themes of comments")
    raw: list[object] = ["" if c is None else c for c in comments]
    for i, c in enumerate(raw):
        if not isinstance(c, str):
            msg = f"comments[{i}]: {c!r} is not text"
            raise CxError(msg)
    texts = [str(c) for c in raw]
    has_text = [i for i, c in enumerate(texts) if c.strip()]
    if len(has_text) < max(n_themes, min_df):
        msg = (
            f"{len(has_text)} comments with text are too few for {n_themes} themes "
            f"(expected at least {max(n_themes, min_df)})"
        )
        raise CxError(msg)
    vectorizer = text.TfidfVectorizer(
        stop_words=stop_words
        if stop_words is None or stop_words == "english"
        else list(stop_words),
        ngram_range=(1, 2),
        token_pattern=_TERM,
        min_df=min_df,
        max_df=max_df,
        max_features=max_features,
        sublinear_tf=True,
        dtype=np.float64,
    )
    try:
        matrix = vectorizer.fit_transform([texts[i] for i in has_text])
    except ValueError as exc:  # an empty vocabulary, or settings that prune every term
        msg = f"no terms left to find themes in ({exc})"
        raise CxError(msg) from None
    vocabulary = vectorizer.get_feature_names_out()
    if len(vocabulary) < n_themes:
        msg = f"{len(vocabulary)} terms are too few for {n_themes} themes"
        raise CxError(msg)
    weights, components, converged = _factorise(matrix, n_themes, seed, max_iter)
    assignment = np.full(len(texts), -1, dtype=np.int64)
    strength = np.zeros(len(texts))
    best = weights.argmax(axis=1)
    top = weights.max(axis=1)
    rows = np.asarray(has_text, dtype=np.int64)
    assigned = top > 0
    assignment[rows[assigned]] = best[assigned]
    strength[rows[assigned]] = top[assigned]
    sizes = np.bincount(best[assigned], minlength=n_themes)
    # Largest theme first; ties broken by the model's order, so the order is stable.
    order = sorted(range(n_themes), key=lambda k: (-int(sizes[k]), k))
    rank = np.empty(n_themes, dtype=np.int64)
    rank[order] = np.arange(n_themes)
    assignment = np.where(assignment >= 0, rank[np.maximum(assignment, 0)], -1)
    total = max(int(assigned.sum()), 1)
    found = []
    for k in order:
        term_order = np.argsort(-components[k], kind="stable")[:top_terms]
        terms = tuple(str(vocabulary[j]) for j in term_order if components[k, j] > 0)
        members = np.flatnonzero(assigned & (best == k))
        strongest = members[np.argsort(-weights[members, k], kind="stable")]
        chosen: list[str] = []
        for j in strongest:
            candidate = texts[has_text[int(j)]]
            if candidate not in chosen:
                chosen.append(candidate)
            if len(chosen) == examples:
                break
        found.append(
            Theme(
                label=_label(terms),
                terms=terms,
                weights=tuple(float(components[k, j]) for j in term_order[: len(terms)]),
                size=int(sizes[k]),
                share=int(sizes[k]) / total,
                examples=tuple(chosen),
            )
        )
    return Themes(found, assignment, strength, seed, converged=converged)


# -- comments from responses ---------------------------------------------------------------


@attrs.frozen
class Comments:
    """The comments of responses to one survey, with each response's id, score and locale.

    Build it with :meth:`from_responses`; read it with :meth:`sentiment`,
    :meth:`mismatches` and :meth:`themes`.

    Attributes:
        survey_id: The survey the comments answer.
        question: The text question's id.
        ids: Each response's id.
        texts: Each comment.
        scores: Each response's answer to the scored question, on the metric's
            scale (``None`` where unanswered or without a scored question).
        metric: The scored question's metric, if one was named.
        locales: The locale each survey was shown in.
        skipped: Responses left out, and why (another survey, no comment, agent-reported).

    .. versionadded:: 0.1.0
    """

    survey_id: str
    question: str
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    scores: tuple[int | None, ...]
    metric: str | None
    locales: tuple[str, ...]
    skipped: dict[str, int] = attrs.field(factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_responses(
        cls,
        responses: Iterable[Response],
        survey: Survey,
        *,
        text: str,
        score: str | None = None,
        include_agents: bool = False,
    ) -> Comments:
        """The answers to text question *text* of *survey*, with the answer to *score*.

        Scores are read as the metric reads them (a CES shown "lower is
        better" is turned round). Responses to another survey, without a
        comment, or (unless *include_agents*) recorded by an agent are left
        out and counted in ``skipped``.

        Raises:
            CxError: If *text* is not a text question of the survey, or *score*
                not a scored one.

        .. versionadded:: 0.1.0
        """
        try:
            text_q = survey.question(text)
            score_q = None if score is None else survey.question(score)
        except KeyError as exc:
            raise CxError(str(exc.args[0])) from None
        if not isinstance(text_q, TextQuestion):
            msg = f"text: question {text!r} of survey {survey.id!r} is a {text_q.kind} question"
            raise CxError(msg + " (expected a text question)")
        if score_q is not None and not isinstance(score_q, ScoredQuestion):
            msg = f"score: question {score!r} of survey {survey.id!r} is a {score_q.kind} question"
            raise CxError(msg + " (expected a scored question: nps, csat, ces, rating, scale)")
        skipped: Counter[str] = Counter()
        ids, texts, scores, locales = [], [], [], []
        for r in responses:
            if r.survey_id != survey.id:
                skipped["another survey"] += 1
                continue
            if r.is_agent_reported and not include_agents:
                skipped["agent-reported"] += 1
                continue
            comment = r.answers.get(text)
            if not isinstance(comment, str) or not comment.strip():
                skipped["no comment"] += 1
                continue
            value = None if score is None else r.answers.get(score)
            ids.append(r.id)
            texts.append(comment)
            scores.append(
                score_q.canonical(value)
                if isinstance(score_q, ScoredQuestion)
                and isinstance(value, int)
                and score_q.check_answer(value) is None
                else None
            )
            locales.append(r.locale)
        return cls(
            survey.id,
            text,
            tuple(ids),
            tuple(texts),
            tuple(scores),
            None if score_q is None else score_q.metric_name,
            tuple(locales),
            dict(skipped),
        )

    def sentiment(self) -> Sentiments:
        """The sentiment of each comment (see :func:`sentiment`).

        The survey's locale is not taken as the comment's language: people
        shown a Hindi survey often write in English. The script and the words
        decide.
        """
        return sentiment(self.texts)

    def mismatches(self, **options: Any) -> list[Mismatch]:  # noqa: ANN401 - those of mismatches
        """High scores with angry comments and low scores with happy ones (see :func:`mismatches`).

        Comments without a score are left out; ``index`` is the position in these comments.

        Raises:
            CxError: If no scored question was named.
        """
        if self.metric is None:
            msg = "no scored question was named (pass score= to from_responses)"
            raise CxError(msg)
        keep = [i for i, s in enumerate(self.scores) if s is not None]
        found = sentiment([self.texts[i] for i in keep])
        flags = mismatches(
            [self.scores[i] or 0 for i in keep],
            found,
            metric=self.metric,
            ids=[self.ids[i] for i in keep],
            **options,
        )
        return [attrs.evolve(f, index=keep[f.index]) for f in flags]

    def themes(self, n_themes: int = 8, **options: Any) -> Themes:  # noqa: ANN401 - those of themes
        """Themes of the comments (see :func:`themes`)."""
        return themes(self.texts, n_themes, **options)
