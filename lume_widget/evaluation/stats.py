"""Small statistics shared by the runner, the summary, the comparison and the report: percentiles and spreads."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

__all__ = ["percentile", "spread", "timing"]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (0..1) by linear interpolation between ranks; None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = math.ceil(position)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value, 6)


def timing(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p95, mean, max and count of a series of seconds (None where empty)."""
    return {
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "mean": round(sum(values) / len(values), 6) if values else None,
        "max": round(max(values), 6) if values else None,
        "count": len(values),
    }


def spread(values: Sequence[float]) -> dict[str, float | None]:
    """How much a figure varies across runs: min, max, max - min and the standard deviation."""
    if not values:
        return {"min": None, "max": None, "range": None, "stdev": None}
    low, high = min(values), max(values)
    return {
        "min": round(low, 6),
        "max": round(high, 6),
        "range": round(high - low, 6),
        "stdev": round(statistics.pstdev(values), 6),
    }
