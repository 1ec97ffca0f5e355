"""Whether a template's count in one hour is far outside its usual range for that hour of
day.

The baseline of hour ``h`` is the template's counts at the same hour on each of the
previous ``BASELINE_DAYS`` days that the scope was already mined (a day without lines of
the template counts 0). With median ``m`` and median absolute deviation ``d`` of those
counts, the spread is ``s = max(1.4826 * d, sqrt(max(m, 1)))`` (the MAD scaled to a
standard deviation, but never below the Poisson deviation of the median), and the count
``c`` is

- ``high`` when ``c > m + K * s`` and ``c >= MIN_HIGH`` (a handful of lines is never a
  spike);
- ``low`` when ``c < m - K * s`` and ``m >= MIN_LOW_MEDIAN`` (only a template that is
  normally frequent can be missing);

with ``K = 4``. At least ``MIN_DAYS`` days of history are needed; before, nothing is judged.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

BASELINE_DAYS = 7
MIN_DAYS = 3
K = 4.0
MIN_HIGH = 10
MIN_LOW_MEDIAN = 20.0


@dataclass(frozen=True)
class Judgement:
    direction: str  # high | low
    count: int
    median: float
    spread: float
    expected_low: float
    expected_high: float


def judge(count: int, history: list[int]) -> Judgement | None:
    """Return the anomaly of ``count`` against ``history`` (same hour on earlier days), or
    None when it is within range or the history is too short."""
    if len(history) < MIN_DAYS:
        return None
    median = float(statistics.median(history))
    mad = float(statistics.median(abs(x - median) for x in history))
    spread = max(1.4826 * mad, math.sqrt(max(median, 1.0)))
    low, high = median - K * spread, median + K * spread
    if count > high and count >= MIN_HIGH:
        return Judgement("high", count, median, spread, max(low, 0.0), high)
    if count < low and median >= MIN_LOW_MEDIAN:
        return Judgement("low", count, median, spread, max(low, 0.0), high)
    return None
