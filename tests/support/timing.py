"""Telling two kinds of request apart by their duration, as an attacker would: Welch's t over
interleaved samples, the slowest fifth dropped (scheduler hiccups on a shared machine)."""

from __future__ import annotations

import math
import statistics


def welch_t(a: list[float], b: list[float]) -> float:
    variance = statistics.variance(a) / len(a) + statistics.variance(b) / len(b)
    return (statistics.mean(a) - statistics.mean(b)) / math.sqrt(variance)


def trimmed(samples: list[float]) -> list[float]:
    ordered = sorted(samples)
    return ordered[: len(ordered) * 4 // 5]


def indistinguishable(a: list[float], b: list[float]) -> tuple[bool, float, float]:
    """Whether `a` and `b` look alike: medians within 0.6x..1.6x and |t| < 4 (the bounds of
    the local provider's enumeration test); with the ratio and t, for the failure message."""
    a, b = trimmed(a), trimmed(b)
    ratio = statistics.median(b) / statistics.median(a)
    t = welch_t(a, b)
    return 0.6 < ratio < 1.6 and abs(t) < 4.0, ratio, t
