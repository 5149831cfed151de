"""Evaluate kubeloop's typed queries (`telemetry.queries`) on a history of scrapes, as Prometheus does.

Rates follow Prometheus's `extrapolatedRate` (promql/functions.go) series by series, and series are kept
per target (an `instance` label), so one server's restart resets only its own counters:
- counter resets: a value lower than the one before adds the one before;
- extrapolation: a range is stretched to the window's edges when its first or last sample is within
  1.1 average sample intervals of them, else by half an interval; never back past the counter's zero.
`histogram_quantile` is Prometheus's `BucketQuantile` (buckets summed by `le`, forced monotonic,
linear inside the bucket, the second-highest bound when the rank falls in `+Inf`).

Where this differs from a Prometheus started with default flags, exactly:
- a series that first appears inside the window (prometheus_client creates a labelled child at its
  first increment) starts from 0 at its target's previous successful scrape; Prometheus assumes
  that only with `--enable-feature=created-timestamp-zero-ingestion` (at the `_created` time),
  otherwise it extrapolates the new series back by half a scrape interval and undercounts it;
- the window is closed, [end - window, end], where Prometheus 3 leaves its start open; a scrape
  landing exactly on the start is used (Prometheus would extrapolate to it instead);
- the evaluation time is the newest scrape, not the wall clock of the query;
- small floating-point differences between buckets are not ignored (Prometheus tolerates 1e-12).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from kubeloop.errors import SpecError
from kubeloop.telemetry.queries import OrZero, PromQL, Quantile, Query, Rate, Ratio, Selector

Labels = frozenset[tuple[str, str]]
Series = tuple[str, Labels]  # (sample name, labels, including the target as `instance`)
Samples = Mapping[Series, float]
Vector = dict[Labels, float]
Points = list[tuple[float, float]]
INSTANCE = "instance"


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """Every sample scraped at one moment, and the targets that answered (their series are complete)."""

    at: float
    samples: Samples
    targets: frozenset[str] = field(default_factory=frozenset)


def evaluate(query: Query, *, snapshots: Sequence[Snapshot]) -> Vector:
    """The query's result vector at the newest snapshot; empty when there is no data."""
    if isinstance(query, Rate):
        return _rate(query, snapshots)
    if isinstance(query, Quantile):
        return _quantile(query, snapshots)
    if isinstance(query, OrZero):
        value = _rate(query.value, snapshots)
        like = {frozenset(): 0.0} if query.like is None else _rate(query.like, snapshots)
        return {**dict.fromkeys(like, 0.0), **value}
    if isinstance(query, Ratio):
        top = evaluate(query.numerator, snapshots=snapshots)
        bottom = evaluate(query.denominator, snapshots=snapshots)
        return {labels: _divide(value, bottom[labels]) for labels, value in top.items() if labels in bottom}
    assert isinstance(query, PromQL)
    raise SpecError(
        f"query {query.text!r} needs a Prometheus URL (direct scrapes evaluate only kubeloop's checks)"
    )


def first_value(vector: Vector) -> float | None:
    """The value of a one-element result (the first by labels otherwise); None for no data or NaN/Inf."""
    if not vector:
        return None
    value = vector[min(vector, key=sorted)]
    return None if math.isnan(value) or math.isinf(value) else value


def _divide(top: float, bottom: float) -> float:
    if bottom == 0:
        return math.nan if top == 0 else math.copysign(math.inf, top)
    return top / bottom


def _seconds(window: float | str) -> float:
    if isinstance(window, str):
        raise SpecError(f"the window {window!r} is a dashboard variable; direct scrapes need seconds")
    return float(max(1, round(window)))


def points(selector: Selector, snapshots: Sequence[Snapshot], *, start: float) -> dict[Series, Points]:
    """Each selected series' samples in [start, newest], with the zero a series starts from when it
    appears inside the window on a target that answered the scrape before."""
    lines: dict[Series, Points] = {}
    previous: Snapshot | None = None
    for snapshot in snapshots:
        if snapshot.at >= start:
            for series, value in snapshot.samples.items():
                if not selector.matches(series[0], dict(series[1])):
                    continue
                line = lines.setdefault(series, [])
                if not line and previous is not None and previous.at >= start and _appeared(series, previous):
                    line.append((previous.at, 0.0))
                line.append((snapshot.at, value))
        previous = snapshot
    return lines


def _appeared(series: Series, previous: Snapshot) -> bool:
    return series not in previous.samples and dict(series[1]).get(INSTANCE, "") in previous.targets


def extrapolated_increase(line: Points, *, start: float, end: float) -> float | None:
    """Prometheus's extrapolated counter increase over [start, end]; None with fewer than two samples."""
    if len(line) < 2:
        return None
    (first_t, first_v), (last_t, last_v) = line[0], line[-1]
    result = last_v - first_v + sum(before for (_, before), (_, after) in pairwise(line) if after < before)
    sampled = last_t - first_t
    average = sampled / (len(line) - 1)
    to_start, to_end = first_t - start, end - last_t
    if to_start >= average * 1.1:
        to_start = average / 2
    if result > 0 and first_v >= 0:  # never extrapolate a counter back past zero
        to_start = min(to_start, sampled * first_v / result)
    if to_end >= average * 1.1:
        to_end = average / 2
    return result * (sampled + to_start + to_end) / sampled


def _rate(query: Rate, snapshots: Sequence[Snapshot]) -> Vector:
    if not snapshots:
        return {}
    window = _seconds(query.window)
    end = snapshots[-1].at
    out: Vector = {}
    for (_, labels), line in points(query.selector, snapshots, start=end - window).items():
        increase = extrapolated_increase(line, start=end - window, end=end)
        if increase is None:
            continue
        group = frozenset((k, v) for k, v in labels if k in query.by)
        out[group] = out.get(group, 0.0) + (increase if query.total else increase / window)
    return out


def _quantile(query: Quantile, snapshots: Sequence[Snapshot]) -> Vector:
    buckets = Rate(selector=query.selector.suffixed("_bucket"), window=query.window, by=("le", *query.by))
    groups: dict[Labels, dict[float, float]] = {}
    for labels, rate in _rate(buckets, snapshots).items():
        values = dict(labels)
        group = frozenset((k, v) for k, v in labels if k != "le")
        groups.setdefault(group, {})[float(values["le"])] = rate
    found = {group: bucket_quantile(query.quantile, counts) for group, counts in groups.items()}
    return {group: value for group, value in found.items() if value is not None}


def bucket_quantile(quantile: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus's BucketQuantile over {upper bound: cumulative count}; None where it gives NaN."""
    bounds = sorted(buckets)
    if len(bounds) < 2 or bounds[-1] != math.inf:
        return None
    counts, highest = [], 0.0
    for bound in bounds:  # rates of separate bucket series can break monotonicity: force it
        highest = max(highest, buckets[bound])
        counts.append(highest)
    if counts[-1] <= 0:
        return None
    rank = quantile * counts[-1]
    index = next(i for i, count in enumerate(counts[:-1] + [math.inf]) if count >= rank)
    if index == len(bounds) - 1:
        return bounds[-2]
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    lower = bounds[index - 1] if index > 0 else 0.0
    below = counts[index - 1] if index > 0 else 0.0
    if counts[index] == below:  # only for q = 0 on an empty lowest bucket, where Prometheus gives NaN
        return None
    return lower + (bounds[index] - lower) * (rank - below) / (counts[index] - below)
