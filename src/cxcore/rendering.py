"""How a scored question is shown: its levels, their labels and glyphs, in one locale. Pure.

Every place that shows a scale (an email's one-click links, the collector's
survey page, a kiosk) reads it from here, so the labels and the glyphs come
from one place: the metric registry's labels and symbols, or the question's
own end labels. Responses store the level, never the glyph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

from cxcore.errors import CxError
from cxcore.metrics import get_metric
from cxcore.model.survey import Display, ScoredQuestion

__all__ = ["Level", "ScaleView", "scale_view"]


@attrs.frozen
class Level:
    """One level of a scale, as shown.

    Attributes:
        value: The level the response stores.
        label: Its words (``"Very satisfied"``), if it has any.
        glyph: What is shown on its button: the number, stars, or an emoji.

    .. versionadded:: 0.1.0
    """

    value: int
    label: str | None
    glyph: str


@attrs.frozen
class ScaleView:
    """A scored question's scale, as shown in one locale.

    Attributes:
        display: ``"numbers"``, ``"stars"`` or ``"emoji"``.
        layout: ``"row"``, or ``"column"`` for agreement scales (CES) whose
            labels are long.
        levels: The levels, lowest first.
        low_label: The words at the low end, if any.
        high_label: The words at the high end, if any.
        metric: The metric the answers feed.

    .. versionadded:: 0.1.0
    """

    display: str
    layout: str
    levels: tuple[Level, ...]
    low_label: str | None
    high_label: str | None
    metric: str


def _glyph(display: Display | None, level: int, low: int, symbols: Mapping[int, str]) -> str:
    if display is Display.EMOJI and level in symbols:
        return symbols[level]
    if display is Display.STARS:
        return "\u2605" * (level - low + 1)
    return str(level)


def _metric_parts(
    q: ScoredQuestion,
) -> tuple[Callable[[int, str], str | None], Mapping[int, str]]:
    try:
        metric = get_metric(q.metric_name)
    except CxError:  # a custom metric not registered here: numbers without labels
        return (lambda _level, _locale: None), {}
    return metric.label, metric.symbols


def scale_view(q: ScoredQuestion, locale: str, fallback: str = "en") -> ScaleView:
    """How *q*'s scale is shown in *locale*.

    >>> from cxcore import CsatQuestion
    >>> view = scale_view(CsatQuestion(id="sat", text={"en": "Happy?"}, display="stars"), "en")
    >>> [(level.value, level.glyph) for level in view.levels][:2], view.high_label
    ([(1, '★'), (2, '★★')], 'Very satisfied')

    Args:
        q: The question.
        locale: The language to show it in.
        fallback: The language to use where *locale* has no text (the survey's default).

    .. versionadded:: 0.1.0
    """
    low, high = q.bounds
    label, symbols = _metric_parts(q)
    display: Display | None = getattr(q, "display", None)
    low_label = (
        q.low_label.get(locale, fallback) if q.low_label else label(q.canonical(low), locale)
    )
    high_label = (
        q.high_label.get(locale, fallback) if q.high_label else label(q.canonical(high), locale)
    )
    levels = []
    for value in range(low, high + 1):
        text = label(q.canonical(value), locale)
        if value == low and q.low_label:
            text = low_label
        elif value == high and q.high_label:
            text = high_label
        levels.append(Level(value, text, _glyph(display, value, low, symbols)))
    return ScaleView(
        display=(display or Display.NUMBERS).value,
        layout="column" if q.kind == "ces" else "row",
        levels=tuple(levels),
        low_label=low_label,
        high_label=high_label,
        metric=q.metric_name,
    )
