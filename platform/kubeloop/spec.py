"""The ModelDeployment schema: one frozen, validated model for the local YAML file, the CRD and the CLI.

Field names are camelCase on the wire (as Kubernetes custom resources are) and snake_case in Python.
An invalid spec is refused with the field path and the reason, for example
`spec.rollout.canary.steps: weights must increase strictly, got [10, 5]`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from kubeloop.cron import is_cron, parse_cron
from kubeloop.errors import SpecError

API_VERSION: Final = "kubeloop.io/v1alpha1"
KIND: Final = "ModelDeployment"

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as '30s', '5m', '1.5h'; negative values are refused."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '30s' or '5m'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration such as '30s' or '5m', got {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


def validate_schedule(schedule: str) -> str:
    """The schedule unchanged; ValueError unless it is a positive duration or a cron expression."""
    if is_cron(schedule):
        parse_cron(schedule)
    elif parse_duration(schedule) <= 0:
        raise ValueError(f"a schedule interval must be positive, got {schedule!r}")
    return schedule


Duration = Annotated[float, BeforeValidator(parse_duration)]
Schedule = Annotated[str, AfterValidator(validate_schedule)]
Percent = Annotated[int, Field(ge=0, le=100)]


class Frozen(BaseModel):
    """Base of every spec object: immutable, camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class ModelRef(Frozen):
    """Which registered model to serve; the stable version comes from the alias unless pinned."""

    name: str = Field(min_length=1, max_length=200)
    alias: str = "champion"
    version: str | None = None


class ResourceSpec(Frozen):
    """Kubernetes-style resource requests and limits for a model server."""

    requests: dict[str, str] = Field(default_factory=lambda: {"cpu": "250m", "memory": "512Mi"})
    limits: dict[str, str] = Field(default_factory=lambda: {"cpu": "1", "memory": "1Gi"})


class AutoscalingSpec(Frozen):
    """Replica bounds for the model server (KServe min/maxReplicas)."""

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be at least minReplicas")
        return self


class ServingSpec(Frozen):
    """How the model is served: runtime, local port, workers and cluster resources."""

    runtime: Literal["kserve", "bentoml", "mlflow"] = "kserve"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    max_batch_size: int = Field(default=64, ge=1)
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    autoscaling: AutoscalingSpec = Field(default_factory=AutoscalingSpec)


CheckKind = Literal[
    "error-rate", "latency-p99-ratio", "disagreement", "prediction-shift", "promql", "quality"
]
# What a quality check compares on labeled requests (kubeloop.quality.paired names the same metrics).
QualityMetric = Literal["accuracy", "macro-f1", "log-loss", "brier", "mae", "rmse", "r2"]


class CheckSpec(Frozen):
    """One analysis check: a measurement over the last interval compared with a threshold."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    kind: CheckKind
    threshold: float
    # A check passes while the value stays at or under the threshold, unless direction is "min".
    direction: Literal["max", "min"] = "max"
    min_samples: int = Field(default=50, ge=1)
    query: str | None = None
    # Quality checks: the metric compared, the labeled pairs needed before judging, the confidence of
    # the interval; `threshold` is the non-inferiority margin (0.01: not worse by more than 1 point).
    metric: QualityMetric = "accuracy"
    min_labels: int = Field(default=200, ge=1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)

    @model_validator(mode="after")
    def _query_for_promql(self) -> CheckSpec:
        if self.kind == "promql" and not self.query:
            raise ValueError("a promql check needs a query")
        if self.kind == "quality" and self.threshold < 0:
            raise ValueError("a quality check's threshold is its non-inferiority margin: 0 or more")
        return self


def default_checks() -> tuple[CheckSpec, ...]:
    """Checks a rollout runs when its strategy names none."""
    return (
        CheckSpec(name="error-rate", kind="error-rate", threshold=0.01),
        CheckSpec(name="latency-p99", kind="latency-p99-ratio", threshold=1.5),
        CheckSpec(name="disagreement", kind="disagreement", threshold=0.1),
        CheckSpec(name="prediction-shift", kind="prediction-shift", threshold=0.2),
    )


class ShadowSpec(Frozen):
    """Shadow phase: mirror a share of live requests to the challenger and compare answers."""

    percent: Percent = 100
    duration: Duration = 60.0
    min_samples: int = Field(default=200, ge=1)


class CanarySpec(Frozen):
    """Canary phase: live traffic shifted to the challenger in increasing steps."""

    steps: tuple[Percent, ...] = (10, 25, 50)
    interval: Duration = 60.0

    # Field validators (not one model validator) so an error names `canary.steps` or `canary.interval`.
    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: tuple[int, ...]) -> tuple[int, ...]:
        if not steps:
            raise ValueError("steps must name at least one weight")
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError(f"weights must increase strictly, got {list(steps)}")
        if steps[0] <= 0:
            raise ValueError("the first step must send some traffic (weight > 0)")
        return steps

    @field_validator("interval")
    @classmethod
    def _positive(cls, interval: float) -> float:
        if interval <= 0:
            raise ValueError("interval must be positive")
        return interval


class RolloutSpec(Frozen):
    """Progressive delivery of a challenger: shadow, canary steps, checks and what follows."""

    shadow: ShadowSpec | None = Field(default_factory=ShadowSpec)
    canary: CanarySpec = Field(default_factory=CanarySpec)
    checks: tuple[CheckSpec, ...] = Field(default_factory=default_checks)
    failure_limit: int = Field(default=2, ge=1)
    # Keep the previous champion's server running this long after promotion so a late rollback is instant.
    keep_previous_warm: Duration = 600.0
    step_deadline: Duration = 1800.0

    @model_validator(mode="after")
    def _unique_checks(self) -> RolloutSpec:
        names = [c.name for c in self.checks]
        if len(names) != len(set(names)):
            raise ValueError(f"check names must be unique, got {names}")
        return self


# Online quality metrics a retrain can fire on; each has an offline twin in the training evaluation.
QualityTriggerMetric = Literal["accuracy", "macro-f1", "mae", "rmse", "r2"]


class QualityTriggerSpec(Frozen):
    """Retrain on a quality drop (concept drift): the serving version's online quality, from labels, shown
    to be below its own offline (holdout) figure by more than `maxDrop` at `confidence`."""

    metric: QualityTriggerMetric = "accuracy"
    # In the metric's units: 0.05 is five points of accuracy; for mae/rmse, a rise of that much.
    max_drop: float = Field(default=0.05, ge=0)
    min_labels: int = Field(default=200, ge=1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    # Predictions this far back are measured (labels arrive late); 0 means the drift check's window.
    window: Duration = 0.0


class LabeledTrainingSpec(Frozen):
    """Which labeled production rows a retrain trains on (`trainOn: labeled` or `both`)."""

    # Labeled predictions this far back; 0 means the drift check's window.
    window: Duration = 0.0
    # With trainOn both: the share of the total sample weight the labeled rows carry (the rest: the
    # pipeline's own `data`, every row alike).
    share: float = Field(default=0.5, gt=0, lt=1)
    # Fewer labeled rows than this and the retrain waits (it says so) rather than train on too little.
    min_rows: int = Field(default=50, ge=10)


class DriftSpec(Frozen):
    """Drift monitoring and the retrain policy it feeds."""

    enabled: bool = True
    schedule: Schedule = "15m"
    window: Duration = 3600.0
    min_rows: int = Field(default=500, ge=1)
    drift_share_threshold: float = Field(default=0.3, gt=0, le=1)
    false_positive_rate: float = Field(default=0.05, gt=0, lt=1)
    consecutive_windows: int = Field(default=2, ge=1)
    cooldown: Duration = 3600.0
    feature_methods: dict[str, str] = Field(default_factory=dict)
    # How features without a featureMethods entry are tested: KS / two-sample chi-square, or the method
    # Evidently would pick (its goodness-of-fit chi-square replaced by the two-sample one).
    default_methods: Literal["two-sample", "evidently"] = "two-sample"
    # Multiple-testing correction across features: Benjamini-Hochberg, Holm, or none.
    correction: Literal["bh", "holm", "none"] = "bh"
    # The Evidently HTML report runs on a random sample of at most this many rows per side.
    report_max_rows: int = Field(default=50_000, ge=100)
    pipeline: str = "training"
    params: dict[str, Any] = Field(default_factory=dict)
    auto_rollout: bool = True
    # A second trigger beside input drift: the serving version's online quality dropped (null: off).
    quality: QualityTriggerSpec | None = None
    # What a retrain trains on: the pipeline's `data` (reference), the labeled production window
    # (labeled), or both mixed (weighted as `labeled.share` says).
    train_on: Literal["reference", "labeled", "both"] = "reference"
    labeled: LabeledTrainingSpec = Field(default_factory=LabeledTrainingSpec)

    def quality_window(self) -> float:
        """How far back the quality trigger measures (its own window, else the drift window)."""
        return (self.quality.window if self.quality is not None else 0.0) or self.window

    def labeled_window(self) -> float:
        """How far back the labeled training rows go (their own window, else the drift window)."""
        return self.labeled.window or self.window


Rate = Annotated[float, Field(gt=0, le=1)]


class LabelingSpec(Frozen):
    """Which answered requests are chosen for labeling, each with the probability it had of being chosen.

    `uniform`: every row at `rate`. `uncertainty`: `rate` for a confident answer rising to `maxRate`
    when the top class probability is as low as it can be (answers without probabilities: `rate`).
    `stratified`: the predicted class's rate in `classRates`, `rate` for classes not listed.
    """

    policy: Literal["none", "uniform", "uncertainty", "stratified"] = "none"
    rate: Rate = 0.1
    max_rate: Rate = 1.0
    class_rates: dict[str, Rate] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> LabelingSpec:
        if self.policy == "uncertainty" and self.max_rate < self.rate:
            raise ValueError(f"maxRate ({self.max_rate:g}) must be at least rate ({self.rate:g})")
        if self.class_rates and self.policy != "stratified":
            raise ValueError("classRates apply to the stratified policy only")
        return self


class DeploymentBody(Frozen):
    """The `spec` of a ModelDeployment."""

    model: ModelRef
    serving: ServingSpec = Field(default_factory=ServingSpec)
    router: Literal["gateway", "kserve", "istio", "gateway-api"] = "gateway"
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    labeling: LabelingSpec = Field(default_factory=LabelingSpec)


class Metadata(Frozen):
    """Name and namespace, as in any Kubernetes object."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)


class ModelDeployment(Frozen):
    """A model served under one name, with how new versions roll out and when it retrains."""

    api_version: Literal["kubeloop.io/v1alpha1"] = API_VERSION
    kind: Literal["ModelDeployment"] = KIND
    metadata: Metadata
    spec: DeploymentBody

    @property
    def name(self) -> str:
        """The deployment's name, which is also the gateway route and metric label."""
        return self.metadata.name

    def to_manifest(self) -> dict[str, Any]:
        """The object as it is written to YAML or sent to Kubernetes (camelCase, defaults filled)."""
        return self.model_dump(mode="json", by_alias=True)


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
        elif not str(item).startswith("function-"):
            path += f".{item}" if path else str(item)
    return path or "(root)"


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming the field path: `spec.canary.steps: ...`."""
    lines = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{_field_path(tuple(problem['loc']))}: {message}")
    return "; ".join(lines)


def parse_deployment(data: Mapping[str, Any]) -> ModelDeployment:
    """Validate a mapping (from YAML, JSON or the cluster) into a ModelDeployment, or raise SpecError."""
    try:
        return ModelDeployment.model_validate(dict(data))
    except ValidationError as error:
        raise SpecError(f"invalid ModelDeployment: {describe_validation_error(error)}") from None


def read_yaml(path: Path) -> Any:
    """The parsed content of a YAML (or JSON) config file, or SpecError naming the file and the problem."""
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML ({error})") from None


def load_deployment(path: str | Path) -> ModelDeployment:
    """Read and validate a ModelDeployment YAML file."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, Mapping):
        raise SpecError(f"{path}: expected a ModelDeployment mapping, got {type(data).__name__}")
    return parse_deployment(data)
