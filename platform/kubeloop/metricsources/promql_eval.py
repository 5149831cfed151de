"""Evaluate the few PromQL shapes of telemetry.queries over two snapshots of scraped samples.

Supported: `sum(rate(m{sel}[w]))`, `sum(increase(m{sel}[w]))`, `(X or vector(0))`,
`histogram_quantile(q, sum by (le) (rate(m_bucket{sel}[w])))` and `X / Y` of those. Anything
else is refused with a message saying a Prometheus URL is needed for it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from kubeloop.errors import SpecError

Series = tuple[str, frozenset[tuple[str, str]]]
Samples = Mapping[Series, float]

_SUM = re.compile(r"^sum\((rate|increase)\((\w+)\{([^}]*)\}\[(\w+)\]\)\)$")
_QUANTILE = re.compile(
    r"^histogram_quantile\(([0-9.]+),\s*sum by \(le\) \(rate\((\w+)\{([^}]*)\}\[(\w+)\]\)\)\)$"
)
_OR_ZERO = re.compile(r"^\((.*) or vector\(0\)\)$")
_MATCHER = re.compile(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """Every sample scraped at one moment."""

    at: float
    samples: Samples


def evaluate(query: str, *, base: Snapshot, latest: Snapshot) -> float | None:
    """The query's value between two snapshots; None when there is no data (as an empty vector)."""
    left, right = _split_division(query.strip())
    numerator = _term(left, base, latest)
    if right is None:
        return numerator
    denominator = _term(right, base, latest)
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _split_division(query: str) -> tuple[str, str | None]:
    depth = 0
    for index, char in enumerate(query):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "/" and depth == 0:
            return query[:index].strip(), query[index + 1 :].strip()
    return query, None


def _term(text: str, base: Snapshot, latest: Snapshot) -> float | None:
    if match := _OR_ZERO.match(text):
        value = _term(match.group(1).strip(), base, latest)
        return 0.0 if value is None else value
    if match := _SUM.match(text):
        func, metric, matchers, _ = match.groups()
        increases = _increases(metric, _matchers(matchers), base, latest)
        if not increases:
            return None
        total = sum(increases.values())
        return total / (latest.at - base.at) if func == "rate" else total
    if match := _QUANTILE.match(text):
        quantile, metric, matchers, _ = match.groups()
        increases = _increases(metric, _matchers(matchers), base, latest)
        return _histogram_quantile(float(quantile), increases)
    raise SpecError(f"query {text!r} needs a Prometheus URL (direct scrapes evaluate only kubeloop's checks)")


def _matchers(text: str) -> list[tuple[str, str, str]]:
    if _MATCHER.sub("", text).strip():
        raise SpecError(f"cannot read label matchers {{{text}}}")
    return _MATCHER.findall(text)


def _matches(labels: frozenset[tuple[str, str]], matchers: list[tuple[str, str, str]]) -> bool:
    values = dict(labels)
    for name, op, expected in matchers:
        actual = values.get(name, "")
        if op == "=" and actual != expected or op == "!=" and actual == expected:
            return False
        if op == "=~" and not re.fullmatch(expected, actual) or op == "!~" and re.fullmatch(expected, actual):
            return False
    return True


def _increases(
    metric: str, matchers: list[tuple[str, str, str]], base: Snapshot, latest: Snapshot
) -> dict[Series, float]:
    """Per-series increase between the snapshots; a counter that went down was reset, so count it all."""
    out = {}
    for series, value in latest.samples.items():
        if series[0] != metric or not _matches(series[1], matchers):
            continue
        before = base.samples.get(series, 0.0)
        out[series] = value - before if value >= before else value
    return out


def _histogram_quantile(quantile: float, increases: Mapping[Series, float]) -> float | None:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket holding the rank."""
    buckets: dict[float, float] = {}
    for (_, labels), value in increases.items():
        le = float(dict(labels).get("le", "nan"))
        if not math.isnan(le):
            buckets[le] = buckets.get(le, 0.0) + value
    bounds = sorted(buckets)
    if not bounds or bounds[-1] != math.inf or buckets[math.inf] <= 0:
        return None
    rank = quantile * buckets[math.inf]
    lower, below = 0.0, 0.0
    for upper in bounds:
        count = buckets[upper]
        if count >= rank:
            if upper == math.inf:
                return lower
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower
