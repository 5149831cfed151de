"""Scikit-learn-style estimators (sklearn, XGBoost and LightGBM's sklearn API) predicting rows.

Three ways to hand rows to an estimator, cheapest first, chosen once at load time:
a float matrix (every column numeric and nothing selects columns by name), an index-based replay
of a fitted `Pipeline([ColumnTransformer, ...])` over a NumPy array, and a pandas frame (anything
else). The replay exists because a frame costs 2-8x the estimator itself on one to 64 rows
(bench/bench_serving.py prints both); it calls the fitted transformers themselves, so its numbers
are theirs. Preprocessing runs once per batch: predict and predict_proba share its output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kubeloop.serving.core.prediction import Prediction
from kubeloop.serving.core.requests import BOOLEAN, INTEGER, NUMBER, Column

Features = Callable[[Sequence[Sequence[Any]]], Any]
NUMERIC = (NUMBER, INTEGER, BOOLEAN)


@dataclass(frozen=True, kw_only=True)
class EstimatorPredictor:
    """Rows -> features (`prepare`) -> the transform steps -> the final estimator's predict(+proba)."""

    prepare: Features
    transform: Callable[[Any], Any] | None
    final: Any
    classes: tuple[Any, ...] | None
    path: str

    def __call__(self, rows: Sequence[Sequence[Any]]) -> Prediction:
        """Predict validated rows (signature column order) in one pass of the preprocessing."""
        features = self.prepare(rows)
        if self.transform is not None:
            features = self.transform(features)
        predictions = np.asarray(self.final.predict(features)).tolist()
        if self.classes is None:
            return Prediction(predictions=predictions)
        probabilities = np.asarray(self.final.predict_proba(features)).tolist()
        return Prediction(predictions=predictions, probabilities=probabilities, classes=list(self.classes))


def estimator_predictor(estimator: Any, columns: Sequence[Column]) -> EstimatorPredictor:
    """The cheapest way to feed this estimator that gives its own answers."""
    classes = estimator_classes(estimator)
    steps = getattr(estimator, "steps", None)
    final = steps[-1][1] if steps else estimator
    transform = estimator[:-1].transform if steps and len(steps) > 1 else None
    plan = column_plan(steps[0][1], columns) if steps else None
    if plan is not None:
        return EstimatorPredictor(prepare=plan, transform=_rest(estimator), final=final, classes=classes,
                                  path="columns")
    if not selects_columns_by_name(estimator) and all(c.kind in NUMERIC for c in columns):
        return EstimatorPredictor(prepare=_matrix, transform=transform, final=final, classes=classes,
                                  path="matrix")
    names = [c.name for c in columns]
    return EstimatorPredictor(prepare=lambda rows: _frame(rows, names), transform=transform, final=final,
                              classes=classes, path="frame")


def estimator_classes(estimator: Any) -> tuple[Any, ...] | None:
    """The class labels of a classifier that gives probabilities, else None."""
    classes = getattr(estimator, "classes_", None) if hasattr(estimator, "predict_proba") else None
    return None if classes is None else tuple(np.asarray(classes).tolist())


def selects_columns_by_name(estimator: Any) -> bool:
    """True when a step picks columns by name (a ColumnTransformer, as training builds): needs a frame."""
    from sklearn.compose import ColumnTransformer

    steps = [estimator, *(step for _, step in getattr(estimator, "steps", []))]
    return any(isinstance(step, ColumnTransformer) for step in steps)


def column_plan(step: Any, columns: Sequence[Column]) -> Features | None:
    """The fitted ColumnTransformer `step` replayed over an array by column index; None if it cannot be.

    Each fitted transformer gets the same columns it would get from a frame (a 1-D column for a
    scalar selection, as a text vectorizer wants), and the blocks are stacked as the transformer
    stacks them (sparse when it was fitted to give sparse output).
    """
    from sklearn.compose import ColumnTransformer

    if not isinstance(step, ColumnTransformer) or not hasattr(step, "transformers_"):
        return None
    fitted_names = [str(n) for n in getattr(step, "feature_names_in_", ())]
    index = {c.name: i for i, c in enumerate(columns)}
    if sorted(fitted_names) != sorted(index):
        return None
    parts = []
    for _, transformer, selection in step.transformers_:
        picked = _selection(selection, fitted_names, index)
        if picked is None:
            return None
        if transformer == "drop" or (isinstance(picked, list) and not picked):
            continue
        numeric = all(columns[i].kind in NUMERIC for i in np.atleast_1d(picked))
        parts.append((transformer, picked, numeric))
    return _Replay(parts=tuple(parts), sparse=bool(step.sparse_output_))


@dataclass(frozen=True)
class _Replay:
    parts: tuple[tuple[Any, int | list[int], bool], ...]
    sparse: bool

    def __call__(self, rows: Sequence[Sequence[Any]]) -> Any:
        table = np.array(rows, dtype=object)
        blocks: list[Any] = []
        for transformer, picked, numeric in self.parts:
            block = table[:, picked]
            if numeric:
                block = block.astype(np.float64)
            blocks.append(block if transformer == "passthrough" else transformer.transform(block))
        from scipy import sparse

        if self.sparse:
            return sparse.hstack([b if _is_sparse(b) else sparse.csr_matrix(b) for b in blocks]).tocsr()
        return np.hstack([b.toarray() if _is_sparse(b) else b for b in blocks])


def _is_sparse(block: Any) -> bool:
    """scipy's issparse as a plain bool: its stub narrows a block to an abstract base without toarray()."""
    from scipy import sparse

    return sparse.issparse(block)


def _selection(selection: Any, fitted: list[str], index: dict[str, int]) -> int | list[int] | None:
    """Signature indices for a fitted selection: scalar -> int, list -> list; None when not by name/index."""
    def one(item: Any) -> int | None:
        if isinstance(item, str):
            return index.get(item)
        if isinstance(item, int | np.integer) and 0 <= item < len(fitted):
            return index.get(fitted[int(item)])
        return None

    if isinstance(selection, str | int | np.integer):
        return one(selection)
    if isinstance(selection, list | tuple | np.ndarray) and not np.asarray(selection).dtype == bool:
        picked = [one(item) for item in selection]
        return None if any(p is None for p in picked) else [p for p in picked if p is not None]
    return None


def _rest(estimator: Any) -> Callable[[Any], Any] | None:
    """The transform steps after the first (replayed) one, or None."""
    return estimator[1:-1].transform if len(estimator.steps) > 2 else None


def _matrix(rows: Sequence[Sequence[Any]]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64)


def _frame(rows: Sequence[Sequence[Any]], names: list[str]) -> Any:
    import pandas as pd

    return pd.DataFrame(list(rows), columns=names)
