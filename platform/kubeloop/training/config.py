"""The training configuration: every pipeline parameter, with defaults, checked before anything runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from kubeloop.errors import KubeloopError
from kubeloop.training.estimators import check_estimator
from kubeloop.training.gate import GatePolicy, check_metric
from kubeloop.training.labeled import check_params

TASKS = ("auto", "binary", "multiclass", "regression")
DEFAULT_MODEL_NAME = "iris-classifier"


class ConfigError(KubeloopError):
    """A training parameter was refused; the message names the parameter."""


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """What one training run does; field names are the pipeline's parameter names.

    `data` empty means the default dataset (iris, written under KUBELOOP_HOME); `gate_metric`
    empty means the task's default (f1 for classification, r2 for regression).
    """

    data: str = ""
    target: str = "target"
    task: str = "auto"
    model_name: str = DEFAULT_MODEL_NAME
    estimator: str = "logistic"
    hyperparams: str = "{}"
    test_size: float = 0.25
    seed: int = 42
    min_rows: int = 20
    gate_metric: str = ""
    gate_threshold: float = 0.7
    gate_min_improvement: float = 0.0
    experiment: str = "kubeloop-training"
    # Training on labeled production data (kubeloop.training.labeled): what to train on, whose labels,
    # predictions of which window, and the labeled rows' share of the weight when mixed with `data`.
    train_on: str = "reference"
    labels_from: str = ""
    labels_window: str = ""
    labeled_share: float = 0.5
    # A column of `data` holding sample weights (not a feature); `sample_weight` is found on its own.
    weight_column: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrainingConfig:
        """Build and check a config from loose parameters (CLI strings or Python values)."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown training parameter(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        values: dict[str, Any] = {}
        for key, raw in params.items():
            values[key] = _coerce(key, raw, type(getattr(cls(), key)))
        if isinstance(values.get("hyperparams"), Mapping):
            values["hyperparams"] = json.dumps(values["hyperparams"], sort_keys=True)
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """Raise ConfigError naming the first parameter that cannot work."""
        if self.task not in TASKS:
            raise ConfigError(f"task: expected one of {', '.join(TASKS)}, got {self.task!r}")
        if not 0.05 <= self.test_size <= 0.5:
            raise ConfigError(f"test_size: expected a fraction between 0.05 and 0.5, got {self.test_size}")
        if self.min_rows < 10:
            raise ConfigError(f"min_rows: expected at least 10, got {self.min_rows}")
        if not self.model_name.strip() or not self.target.strip():
            raise ConfigError("model_name and target must not be empty")
        try:
            check_estimator(self.estimator, self.hyperparameters)
            check_metric(self.gate_metric)
            check_params(train_on=self.train_on, labels_from=self.labels_from,
                         labels_window=self.labels_window, labeled_share=self.labeled_share)
        except KubeloopError as error:
            raise ConfigError(str(error)) from error

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The estimator's hyperparameters, decoded from the JSON string the pipeline carries."""
        try:
            decoded = json.loads(self.hyperparams or "{}")
        except json.JSONDecodeError as error:
            raise ConfigError(f"hyperparams: not valid JSON ({error.msg})") from error
        if not isinstance(decoded, dict):
            raise ConfigError('hyperparams: expected a JSON object such as {"n_estimators": 200}')
        return decoded

    def gate_policy(self, task: str) -> GatePolicy:
        """The quality gate for the (resolved) task."""
        metric = self.gate_metric or ("r2" if task == "regression" else "f1")
        return GatePolicy(
            metric=metric, threshold=self.gate_threshold, min_improvement=self.gate_min_improvement
        )

    def as_params(self) -> dict[str, Any]:
        """The pipeline arguments: plain str/int/float values."""
        return asdict(self)


def _coerce(key: str, raw: Any, kind: type) -> Any:
    if kind is str and isinstance(raw, Mapping):
        return raw
    try:
        if kind is int and isinstance(raw, float) and not raw.is_integer():
            raise ValueError
        return kind(raw)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{key}: expected {kind.__name__}, got {raw!r}") from error
