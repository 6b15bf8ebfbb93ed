"""The analyst's layer on the scoring engine: the segment cube, journey analytics, customer health.

Every score here comes from :mod:`cxcore.scoring` (``score_many``, ``compare``,
the relative weights); this package arranges, compares and explains them.
Importing it does not import numpy: each name loads its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cxcore.analysis.cube import Cube, CubeCell, build_cube, cube_from_store, rolling_cube
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

# One line per name, module by module: each part of the layer adds its own hunk.
_LAZY = {
    "Cube": "cxcore.analysis.cube",
    "CubeCell": "cxcore.analysis.cube",
    "build_cube": "cxcore.analysis.cube",
    "cube_from_store": "cxcore.analysis.cube",
    "rolling_cube": "cxcore.analysis.cube",
    "JourneyAnalysis": "cxcore.analysis.journey",
    "TouchpointResult": "cxcore.analysis.journey",
    "journey_analysis": "cxcore.analysis.journey",
    "journey_map_svg": "cxcore.analysis.journey",
    "plot_journey_map": "cxcore.analysis.journey",
    "DEFAULT_HEALTH_WEIGHTS": "cxcore.analysis.health",
    "CustomerHealth": "cxcore.analysis.health",
    "HealthReport": "cxcore.analysis.health",
    "HealthSeparation": "cxcore.analysis.health",
    "HealthWeights": "cxcore.analysis.health",
    "customer_health": "cxcore.analysis.health",
    "health_separation": "cxcore.analysis.health",
}

__all__ = [
    "DEFAULT_HEALTH_WEIGHTS",
    "Cube",
    "CubeCell",
    "CustomerHealth",
    "HealthReport",
    "HealthSeparation",
    "HealthWeights",
    "JourneyAnalysis",
    "TouchpointResult",
    "build_cube",
    "cube_from_store",
    "customer_health",
    "health_separation",
    "journey_analysis",
    "journey_map_svg",
    "plot_journey_map",
    "rolling_cube",
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
