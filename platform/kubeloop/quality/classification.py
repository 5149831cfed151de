"""Classification metrics as `Statistic`s (see `statistic`): accuracy, per-class precision, recall
and F1, macro F1, log loss, Brier score and expected calibration error, on encoded labeled rows.

Conventions follow scikit-learn's, so the figures compare one for one: macro F1 averages the classes
seen in the labels or the predictions; log loss clips probabilities to [eps, 1 - eps]; the Brier
score sums the squared errors over classes, halved for two classes (the binary score).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kubeloop.quality.statistic import Array, Statistic

ECE_BINS = 15
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True, kw_only=True)
class Classified:
    """Labeled rows of one model: class codes of the truth and the predictions, and probabilities."""

    classes: tuple[str, ...]
    truth: np.ndarray  # (rows,) codes into classes
    predicted: np.ndarray  # (rows,) codes into classes
    probabilities: Array | None = None  # (rows, len(classes)), or None when the model gives none

    @property
    def rows(self) -> int:
        """How many labeled rows."""
        return len(self.truth)

    def one_hot(self, codes: np.ndarray) -> Array:
        """Codes as a (rows, classes) indicator matrix."""
        return np.asarray(np.eye(len(self.classes))[codes], dtype=float)


def _ratio(totals: Array, width: int) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(totals[..., :width] / totals[..., width:], dtype=float)


def _ones(rows: int) -> Array:
    return np.ones((rows, 1))


def accuracy(data: Classified) -> Statistic:
    """Share of rows predicted right."""
    correct = (data.truth == data.predicted).astype(float)[:, None]
    return Statistic(names=("accuracy",), columns=np.hstack([correct, _ones(data.rows)]),
                     value=lambda t: _ratio(t, 1), bounded=True)


def per_class(data: Classified, metric: str) -> Statistic:
    """`precision`, `recall` or `f1` of every class (NaN for a class never predicted or labeled)."""
    truth, predicted = data.one_hot(data.truth), data.one_hot(data.predicted)
    hits = truth * predicted
    numerator, denominator = {
        "precision": (hits, predicted),
        "recall": (hits, truth),
        "f1": (2 * hits, truth + predicted),
    }[metric]
    width = len(data.classes)
    return Statistic(names=data.classes, columns=np.hstack([numerator, denominator]),
                     value=lambda t: _ratio(t, width), bounded=True)


def macro_f1(data: Classified) -> Statistic:
    """The unweighted mean of F1 over the classes that occur in the labels or the predictions."""
    truth, predicted = data.one_hot(data.truth), data.one_hot(data.predicted)
    seen = (truth + predicted).sum(axis=0) > 0
    numerator, denominator = (2 * truth * predicted)[:, seen], (truth + predicted)[:, seen]
    width = int(seen.sum())
    return Statistic(names=("macro-f1",), columns=np.hstack([numerator, denominator]),
                     value=lambda t: _ratio(t, width).mean(axis=-1, keepdims=True), bounded=True)


def log_loss(data: Classified) -> Statistic | None:
    """Mean negative log probability of the true class; None without probabilities."""
    if data.probabilities is None:
        return None
    true_probability = data.probabilities[np.arange(data.rows), data.truth]
    loss = -np.log(np.clip(true_probability, _EPS, 1 - _EPS))[:, None]
    return Statistic(names=("log-loss",), columns=np.hstack([loss, _ones(data.rows)]),
                     value=lambda t: _ratio(t, 1))


def brier(data: Classified) -> Statistic | None:
    """Mean squared error of the probabilities (halved for two classes); None without probabilities."""
    if data.probabilities is None:
        return None
    squared = ((data.probabilities - data.one_hot(data.truth)) ** 2).sum(axis=1)
    if len(data.classes) == 2:
        squared = squared / 2
    return Statistic(names=("brier",), columns=np.hstack([squared[:, None], _ones(data.rows)]),
                     value=lambda t: _ratio(t, 1))


def calibration_error(data: Classified, *, bins: int = ECE_BINS) -> Statistic | None:
    """Expected calibration error of the top-class confidence over equal-width bins (bootstrapped)."""
    if data.probabilities is None:
        return None
    confidence = data.probabilities.max(axis=1)
    correct = (data.probabilities.argmax(axis=1) == data.truth).astype(float)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gaps = np.eye(bins)[which] * (correct - confidence)[:, None]

    def value(t: Array) -> Array:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.abs(t[..., :bins]).sum(axis=-1, keepdims=True) / t[..., bins:], dtype=float)

    return Statistic(names=("ece",), columns=np.hstack([gaps, _ones(data.rows)]), value=value,
                     smooth=False)


# Scalar metrics by name; per-class ones are `per_class(data, metric)`.
METRICS = {
    "accuracy": accuracy,
    "macro-f1": macro_f1,
    "log-loss": log_loss,
    "brier": brier,
    "ece": calibration_error,
}
PER_CLASS = ("precision", "recall", "f1")
