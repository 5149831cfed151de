"""Regression metrics as `Statistic`s (see `statistic`): mean absolute error, RMSE and R2, weighted."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kubeloop.quality.statistic import Array, Statistic


@dataclass(frozen=True, kw_only=True)
class Regressed:
    """Labeled rows of one model: the true values and the predictions."""

    truth: Array
    predicted: Array

    @property
    def rows(self) -> int:
        """How many labeled rows."""
        return len(self.truth)


def _columns(*columns: Array) -> Array:
    return np.column_stack(columns)


def mae(data: Regressed) -> Statistic:
    """Mean absolute error."""
    error = np.abs(data.predicted - data.truth)
    return Statistic(names=("mae",), columns=_columns(error, np.ones(data.rows)),
                     value=lambda t: t[..., :1] / t[..., 1:])


def rmse(data: Regressed) -> Statistic:
    """Root mean squared error."""
    squared = (data.predicted - data.truth) ** 2
    return Statistic(names=("rmse",), columns=_columns(squared, np.ones(data.rows)),
                     value=lambda t: np.sqrt(np.maximum(t[..., :1] / t[..., 1:], 0.0)))


def r2(data: Regressed) -> Statistic:
    """1 - squared error / the labels' variance (both weighted)."""
    squared = (data.predicted - data.truth) ** 2

    def value(t: Array) -> Array:
        count = t[..., 3:4]
        spread = t[..., 2:3] / count - (t[..., 1:2] / count) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(1.0 - (t[..., :1] / count) / spread, dtype=float)

    columns = _columns(squared, data.truth, data.truth**2, np.ones(data.rows))
    return Statistic(names=("r2",), columns=columns, value=value)


METRICS = {"mae": mae, "rmse": rmse, "r2": r2}
