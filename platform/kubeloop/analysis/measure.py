"""Measure the checks of a phase: operational ones through a MetricSource, model ones from prediction logs.

This is the I/O edge of analysis: it reads, then hands plain numbers to `assess`, which judges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from kubeloop.analysis.assess import assess, checks_for_phase, unavailable
from kubeloop.analysis.model_checks import Measurement, disagreement, prediction_shift
from kubeloop.analysis.quality_check import judge_quality
from kubeloop.analysis.results import CheckResult
from kubeloop.errors import KubeloopError
from kubeloop.metricsources.base import MetricSource
from kubeloop.spec import CheckSpec
from kubeloop.telemetry import queries
from kubeloop.telemetry.names import GATEWAY_REQUESTS_TOTAL, GATEWAY_RETRIES_TOTAL, REQUEST_DURATION

# (version, since, until) -> the prediction-log rows that version answered in [since, until).
PredictionReader = Callable[[str, float, float], pd.DataFrame]
# (since, until) -> labeled answers of the deployment's predictions in [since, until) (kubeloop.labels).
LabeledReader = Callable[[float, float], pd.DataFrame]


@dataclass(frozen=True, kw_only=True)
class Subject:
    """Who is measured: a deployment's champion and challenger versions, and where their metrics live."""

    deployment: str
    champion: str
    challenger: str
    task: str | None = None
    # Requests are counted where every answer is seen, the gateway (which also records the shadow's
    # status and counts canary refusals as retries); latency comes from the servers, which time shadow
    # requests too. Set `retries_metric` to None for routers that do not retry (mesh, KServe).
    requests_metric: str = GATEWAY_REQUESTS_TOTAL
    duration_metric: str = REQUEST_DURATION
    retries_metric: str | None = GATEWAY_RETRIES_TOTAL
    extra_labels: dict[str, str] = field(default_factory=dict)

    def labels(self, version: str) -> dict[str, str]:
        """Label matchers for one of the two versions."""
        return {**queries.version_labels(self.deployment, version), **self.extra_labels}


def measure(
    checks: tuple[CheckSpec, ...],
    *,
    subject: Subject,
    phase: str,
    since: float,
    until: float,
    metrics: MetricSource,
    predictions: PredictionReader | None,
    labeled: LabeledReader | None = None,
    started_at: float | None = None,
) -> tuple[CheckResult, ...]:
    """Evaluate the checks that apply in `phase` over [since, until); a source that fails is Inconclusive.

    Quality checks read every label of the rollout's requests so far (`started_at` to `until`): labels
    arrive late, so a window of one interval would hold few of them.
    """
    frames: dict[str, pd.DataFrame] = {}
    results = []
    for check in checks_for_phase(checks, phase=phase):
        if check.kind == "quality":
            results.append(_quality(check, subject, labeled, since=started_at or since, until=until))
            continue
        try:
            found = _measure_one(check, subject, since, until, metrics, predictions, frames)
        except KubeloopError as error:
            results.append(unavailable(check, reason=str(error)))
            continue
        results.append(assess(check, value=found.value, samples=found.samples))
    return tuple(results)


def _measure_one(
    check: CheckSpec,
    subject: Subject,
    since: float,
    until: float,
    metrics: MetricSource,
    predictions: PredictionReader | None,
    frames: dict[str, pd.DataFrame],
) -> Measurement:
    window = max(1, round(until - since))  # whole seconds, as the PromQL range says
    if check.kind == "error-rate":
        return _error_rate(metrics, subject, window)
    if check.kind == "latency-p99-ratio":
        return _latency_ratio(metrics, subject, window)
    if check.kind == "promql":
        assert check.query is not None
        value = metrics.query(queries.PromQL(_expand(check.query, subject=subject, window=window)))
        # A custom query has no sample count of its own: a value means enough data.
        return Measurement(value=value, samples=check.min_samples if value is not None else 0)
    if predictions is None:
        raise KubeloopError("no prediction logs to read")
    for version in (subject.champion, subject.challenger):
        if version not in frames:
            frames[version] = predictions(version, since, until)
    judge = disagreement if check.kind == "disagreement" else prediction_shift
    return judge(frames[subject.champion], frames[subject.challenger], task=subject.task)


def _quality(
    check: CheckSpec, subject: Subject, labeled: LabeledReader | None, *, since: float, until: float
) -> CheckResult:
    if labeled is None:
        return unavailable(check, reason="no label store to read")
    try:
        frame = labeled(since, until)
    except (KubeloopError, OSError, ValueError) as error:
        return unavailable(check, reason=f"labels unreadable: {error}")
    return judge_quality(check, labeled=frame, champion=subject.champion, challenger=subject.challenger)


def _error_rate(metrics: MetricSource, subject: Subject, window: int) -> Measurement:
    """Failed answers of the challenger, counting each canary refusal the gateway retried as a failure."""
    failed = {**subject.labels(subject.challenger), "status": queries.ERROR_STATUS}
    errors = metrics.query(queries.request_count(failed, window, metric=subject.requests_metric))
    total = _count(metrics, subject, subject.challenger, window)
    retried = 0.0
    if subject.retries_metric is not None:
        retries = queries.retry_count(subject.deployment, window, metric=subject.retries_metric)
        retried = metrics.query(retries) or 0.0
    attempts = total + retried
    if attempts <= 0:
        return Measurement(value=None, samples=0)
    return Measurement(value=((errors or 0.0) + retried) / attempts, samples=int(round(attempts)))


def _latency_ratio(metrics: MetricSource, subject: Subject, window: int) -> Measurement:
    p99 = {
        version: metrics.query(
            queries.latency_quantile(subject.labels(version), window, metric=subject.duration_metric)
        )
        for version in (subject.challenger, subject.champion)
    }
    samples = min(_count(metrics, subject, v, window) for v in (subject.challenger, subject.champion))
    ours, theirs = p99[subject.challenger], p99[subject.champion]
    if ours is None or not theirs:
        return Measurement(value=None, samples=samples)
    return Measurement(value=ours / theirs, samples=samples)


def _count(metrics: MetricSource, subject: Subject, version: str, window: int) -> int:
    count = queries.request_count(subject.labels(version), window, metric=subject.requests_metric)
    value = metrics.query(count)
    return 0 if value is None else int(round(value))


def _expand(query: str, *, subject: Subject, window: int) -> str:
    """Custom queries may use $window, $deployment, $challenger and $champion."""
    return (
        query.replace("$window", queries.render_window(window))
        .replace("$deployment", subject.deployment)
        .replace("$challenger", subject.challenger)
        .replace("$champion", subject.champion)
    )
