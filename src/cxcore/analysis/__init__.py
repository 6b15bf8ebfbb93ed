"""The analyst's layer on the scoring engine.

- the segment cube (:func:`build_cube`, :func:`rolling_cube`, :func:`cube_from_store`);
- journey analytics and the journey map (:func:`journey_analysis`, :func:`journey_map_svg`);
- customer health (:func:`customer_health`, :func:`health_separation`);
- the effect of a change and survey-variant tests (:func:`measure_effect`, :func:`variant_test`);
- text analytics (:func:`sentiment`, :func:`themes`, :func:`mismatches`; the ``text`` extra).

Every score here comes from :mod:`cxcore.scoring` (``score_many``, ``compare``,
the relative weights); this package arranges, compares and explains them.
Importing it imports neither numpy nor the optional text libraries: each name
loads its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cxcore.analysis.cube import Cube, CubeCell, build_cube, cube_from_store, rolling_cube
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
    from cxcore.analysis.health import (
        DEFAULT_HEALTH_WEIGHTS,
        CustomerHealth,
        HealthReport,
        HealthSeparation,
        HealthWeights,
        customer_health,
        health_separation,
    )
    from cxcore.analysis.journey import (
        JourneyAnalysis,
        TouchpointResult,
        journey_analysis,
        journey_map_svg,
        plot_journey_map,
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

# Each name, by the module that defines it.
_MODULES = {
    "cxcore.analysis.cube": ("Cube", "CubeCell", "build_cube", "cube_from_store", "rolling_cube"),
    "cxcore.analysis.journey": (
        "JourneyAnalysis",
        "TouchpointResult",
        "journey_analysis",
        "journey_map_svg",
        "plot_journey_map",
    ),
    "cxcore.analysis.health": (
        "DEFAULT_HEALTH_WEIGHTS",
        "CustomerHealth",
        "HealthReport",
        "HealthSeparation",
        "HealthWeights",
        "customer_health",
        "health_separation",
    ),
    "cxcore.analysis.effect": (
        "ChangeEstimate",
        "EffectEstimate",
        "Initiative",
        "VariantComparison",
        "VariantRate",
        "VariantTest",
        "measure_effect",
        "variant_test",
    ),
    "cxcore.analysis.text": (
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
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "DEFAULT_HEALTH_WEIGHTS",
    "ChangeEstimate",
    "Comments",
    "Cube",
    "CubeCell",
    "CustomerHealth",
    "EffectEstimate",
    "HealthReport",
    "HealthSeparation",
    "HealthWeights",
    "Initiative",
    "JourneyAnalysis",
    "Mismatch",
    "MismatchKind",
    "Sentiment",
    "Sentiments",
    "Theme",
    "Themes",
    "TouchpointResult",
    "VariantComparison",
    "VariantRate",
    "VariantTest",
    "build_cube",
    "cube_from_store",
    "customer_health",
    "health_separation",
    "journey_analysis",
    "journey_map_svg",
    "measure_effect",
    "mismatches",
    "plot_journey_map",
    "rolling_cube",
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
