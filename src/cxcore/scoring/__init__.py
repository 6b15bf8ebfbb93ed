"""Scoring: NPS, CSAT, CES and ratings with honest uncertainty, in batch and live.

* :class:`ResponseFrame` holds answers as numpy columns; :func:`score` and
  :func:`score_many` score them overall or by any dimensions and periods.
* :class:`LiveScoreboard` updates per answer and gives exactly the batch numbers.
* ``cxcore.scoring.stats`` has the intervals and tests; :func:`compare`
  compares two cells; :func:`response_rates`, the sample-size helpers and
  :func:`driver_analysis` complete the toolkit.

Importing this package does not import numpy: the columnar parts
(:class:`ResponseFrame`, :func:`score`, driver analysis) load it on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cxcore.scoring._optional import MissingDependencyError
from cxcore.scoring.cells import (
    DEFAULT_MIN_N,
    Cell,
    Period,
    bootstrap_interval,
    cell_from_levels,
    day_number,
)
from cxcore.scoring.comparison import (
    RestComparison,
    SegmentVersusRest,
    compare,
    compare_with_rest,
)
from cxcore.scoring.inputs import ScoreInputError, response_dimensions
from cxcore.scoring.live import LiveScoreboard, Segmentation
from cxcore.scoring.rates import AaporGroup, ResponseRate, aapor_group, aapor_rates, response_rates
from cxcore.scoring.sample_size import (
    difference_sample_size,
    mean_sample_size,
    nps_sample_size,
    proportion_sample_size,
)
from cxcore.scoring.stats import (
    Difference,
    IntervalMethod,
    kish_effective_n,
    mean_difference_test,
    nps_difference_test,
    nps_interval,
    proportion_difference_test,
    proportion_interval,
    t_cdf,
    t_interval,
    t_quantile,
    wilson_interval,
    z_value,
)

if TYPE_CHECKING:
    from cxcore.scoring.batch import ScoreTable, score, score_many
    from cxcore.scoring.drivers import (
        DriverAnalysis,
        DriverWeight,
        driver_analysis,
        relative_weights,
    )
    from cxcore.scoring.frame import Dimension, ResponseFrame

__all__ = [
    "DEFAULT_MIN_N",
    "AaporGroup",
    "Cell",
    "Difference",
    "Dimension",
    "DriverAnalysis",
    "DriverWeight",
    "IntervalMethod",
    "LiveScoreboard",
    "MissingDependencyError",
    "Period",
    "ResponseFrame",
    "ResponseRate",
    "RestComparison",
    "ScoreInputError",
    "ScoreTable",
    "SegmentVersusRest",
    "Segmentation",
    "aapor_group",
    "aapor_rates",
    "bootstrap_interval",
    "cell_from_levels",
    "compare",
    "compare_with_rest",
    "day_number",
    "difference_sample_size",
    "driver_analysis",
    "kish_effective_n",
    "mean_difference_test",
    "mean_sample_size",
    "nps_difference_test",
    "nps_interval",
    "nps_sample_size",
    "proportion_difference_test",
    "proportion_interval",
    "proportion_sample_size",
    "relative_weights",
    "response_dimensions",
    "response_rates",
    "score",
    "score_many",
    "t_cdf",
    "t_interval",
    "t_quantile",
    "wilson_interval",
    "z_value",
]

# The columnar names live in modules that import numpy: load them on first use.
_LAZY = {
    "Dimension": "cxcore.scoring.frame",
    "ResponseFrame": "cxcore.scoring.frame",
    "ScoreTable": "cxcore.scoring.batch",
    "score": "cxcore.scoring.batch",
    "score_many": "cxcore.scoring.batch",
    "DriverAnalysis": "cxcore.scoring.drivers",
    "DriverWeight": "cxcore.scoring.drivers",
    "driver_analysis": "cxcore.scoring.drivers",
    "relative_weights": "cxcore.scoring.drivers",
}


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
