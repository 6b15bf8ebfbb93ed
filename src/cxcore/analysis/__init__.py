"""The analyst's layer: the effect of a change and text analytics, on the scoring engine.

Names load on first use, so ``import cxcore.analysis`` imports neither numpy
nor the optional text libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cxcore.analysis.effect import (
        ChangeEstimate,
        EffectEstimate,
        Initiative,
        VariantComparison,
        VariantRate,
        VariantTest,
        measure_effect,
        variant_test,
    )
    from cxcore.analysis.text import (
        Comments,
        Mismatch,
        MismatchKind,
        Sentiment,
        Sentiments,
        Theme,
        Themes,
        mismatches,
        sentiment,
        themes,
    )

_LAZY = {
    **dict.fromkeys(
        (
            "ChangeEstimate",
            "EffectEstimate",
            "Initiative",
            "VariantComparison",
            "VariantRate",
            "VariantTest",
            "measure_effect",
            "variant_test",
        ),
        "cxcore.analysis.effect",
    ),
    **dict.fromkeys(
        (
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
        ),
        "cxcore.analysis.text",
    ),
}

__all__ = [
    "ChangeEstimate",
    "Comments",
    "EffectEstimate",
    "Initiative",
    "Mismatch",
    "MismatchKind",
    "Sentiment",
    "Sentiments",
    "Theme",
    "Themes",
    "VariantComparison",
    "VariantRate",
    "VariantTest",
    "measure_effect",
    "mismatches",
    "sentiment",
    "themes",
    "variant_test",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - whatever the lazy name is
    module = _LAZY.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
