"""The queries behind the rollout checks, dashboard panels and alert rules, as small typed values.

A query renders itself as PromQL (`to_promql()`) for Prometheus, Grafana and promtool; the scrape-based
metric source evaluates the same value on its own scrapes (`kubeloop.metricsources.promql_eval`), so
local mode and Prometheus agree without PromQL ever being parsed back. A window is seconds, or a
Grafana variable such as "$__rate_interval" (dashboards only: no scrape source can evaluate that).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from kubeloop.telemetry.names import GATEWAY_RETRIES_TOTAL, REQUEST_DURATION, REQUESTS_TOTAL

ERROR_STATUS = "~5..|error"
Window = float | str


def render_window(window: Window) -> str:
    """A PromQL range: whole seconds (at least one) in the largest exact unit, or the variable as it is."""
    if isinstance(window, str):
        return window
    seconds = max(1, round(window))
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Matcher:
    """One label matcher: `label="value"`, or `label=~"regex"` (anchored, as in PromQL)."""

    label: str
    value: str
    regex: bool = False

    def to_promql(self) -> str:
        """The matcher as PromQL writes it."""
        return f'{self.label}{"=~" if self.regex else "="}"{self.value}"'

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a series with these labels is selected (a missing label reads as "")."""
        actual = labels.get(self.label, "")
        return re.fullmatch(self.value, actual) is not None if self.regex else actual == self.value


@dataclass(frozen=True)
class Selector:
    """A metric name with label matchers: `metric{a="x",b=~"y"}`."""

    metric: str
    matchers: tuple[Matcher, ...] = ()

    def to_promql(self) -> str:
        """The instant-vector selector."""
        if not self.matchers:
            return self.metric
        return self.metric + "{" + ",".join(m.to_promql() for m in self.matchers) + "}"

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether a sample of this name and labels is selected."""
        return name == self.metric and all(m.matches(labels) for m in self.matchers)

    def suffixed(self, suffix: str) -> Selector:
        """The same matchers on `metric + suffix` (a histogram's `_bucket` series)."""
        return Selector(self.metric + suffix, self.matchers)


def selector(metric: str, labels: Mapping[str, str] | None = None) -> Selector:
    """A selector from a mapping; a value starting with "~" is a regular expression."""
    matchers = tuple(
        Matcher(name, value[1:], regex=True) if value.startswith("~") else Matcher(name, value)
        for name, value in (labels or {}).items()
    )
    return Selector(metric, matchers)


def _grouping(by: tuple[str, ...]) -> str:
    return f" by ({', '.join(by)}) " if by else ""


@dataclass(frozen=True, kw_only=True)
class Rate:
    """`sum [by (...)] (rate(selector[window]))`, or `increase` when `total` (a count, not per second)."""

    selector: Selector
    window: Window
    by: tuple[str, ...] = ()
    total: bool = False

    def to_promql(self) -> str:
        """The PromQL expression."""
        function = "increase" if self.total else "rate"
        inner = f"{function}({self.selector.to_promql()}[{render_window(self.window)}])"
        return f"sum{_grouping(self.by)}({inner})"


@dataclass(frozen=True, kw_only=True)
class Quantile:
    """`histogram_quantile(q, sum by (le, ...) (rate(metric_bucket{...}[window])))`."""

    quantile: float
    selector: Selector  # of the histogram (its `_bucket` series are read)
    window: Window
    by: tuple[str, ...] = ()

    def to_promql(self) -> str:
        """The PromQL expression."""
        buckets = Rate(selector=self.selector.suffixed("_bucket"), window=self.window, by=("le", *self.by))
        return f"histogram_quantile({self.quantile:g}, {buckets.to_promql()})"


@dataclass(frozen=True, kw_only=True)
class OrZero:
    """`value`, with 0 where it has no series: `(value or vector(0))`, or `or like * 0` when grouped."""

    value: Rate
    like: Rate | None = None

    def to_promql(self) -> str:
        """The PromQL expression."""
        zero = "vector(0)" if self.like is None else f"{self.like.to_promql()} * 0"
        return f"({self.value.to_promql()} or {zero})"


@dataclass(frozen=True, kw_only=True)
class Ratio:
    """`numerator / denominator`, element by element on equal label sets."""

    numerator: Query
    denominator: Query

    def to_promql(self) -> str:
        """The PromQL expression."""
        return f"{self.numerator.to_promql()} / {self.denominator.to_promql()}"


@dataclass(frozen=True)
class PromQL:
    """A user's own PromQL (a `promql` check): Prometheus evaluates it, direct scrapes cannot."""

    text: str

    def to_promql(self) -> str:
        """The text as written."""
        return self.text


Query = Rate | Quantile | OrZero | Ratio | PromQL


def request_count(labels: Mapping[str, str], window: Window, *, metric: str = REQUESTS_TOTAL) -> Rate:
    """Requests answered over the window."""
    return Rate(selector=selector(metric, labels), window=window, total=True)


def request_rate(
    labels: Mapping[str, str], window: Window, *, metric: str = REQUESTS_TOTAL, by: tuple[str, ...] = ()
) -> Rate:
    """Requests per second over the window."""
    return Rate(selector=selector(metric, labels), window=window, by=by)


def error_rate(
    labels: Mapping[str, str], window: Window, *, metric: str = REQUESTS_TOTAL, by: tuple[str, ...] = ()
) -> Ratio:
    """Share of requests that failed (5xx or no answer) over the window."""
    # Without the zero, a window with no error series at all would read as "no data", not as 0.
    errors = request_rate({**labels, "status": ERROR_STATUS}, window, metric=metric, by=by)
    total = request_rate(labels, window, metric=metric, by=by)
    return Ratio(numerator=OrZero(value=errors, like=total if by else None), denominator=total)


def latency_quantile(
    labels: Mapping[str, str],
    window: Window,
    *,
    quantile: float = 0.99,
    metric: str = REQUEST_DURATION,
    by: tuple[str, ...] = (),
) -> Quantile:
    """A latency quantile (seconds) from the request-duration histogram."""
    return Quantile(quantile=quantile, selector=selector(metric, labels), window=window, by=by)


def retry_count(deployment: str, window: Window, *, metric: str = GATEWAY_RETRIES_TOTAL) -> Rate:
    """Requests the gateway retried on stable because the canary refused them (a canary failure)."""
    return request_count({"deployment": deployment}, window, metric=metric)


def version_labels(deployment: str, version: str) -> dict[str, str]:
    """Matchers for one model version of a deployment, whatever role it plays."""
    return {"deployment": deployment, "version": str(version)}
