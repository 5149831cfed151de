"""One loader per servable flavour: the model object, its predictor and its classes from a model folder.

scikit-learn, XGBoost and LightGBM models with the scikit-learn API go to `estimators` (or to the
verified ONNX copy registration made); ONNX models to onnxruntime; a generic `mlflow.pyfunc.PythonModel`, or a
framework's bare booster, to MLflow's pyfunc with the signature's frame or arrays.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kubeloop.errors import KubeloopError
from kubeloop.serving.core.estimators import EstimatorPredictor, estimator_classes, estimator_predictor
from kubeloop.serving.core.onnx_copy import verified_copy
from kubeloop.serving.core.onnx_model import OnnxPredictor, onnx_classes, session
from kubeloop.serving.core.prediction import Prediction
from kubeloop.serving.core.requests import INTEGER, Column
from kubeloop.serving.core.tensors import TensorInput, stack

Loaded = tuple[Any, Callable[[Sequence[Sequence[Any]]], Prediction], tuple[Any, ...] | None]


def _sklearn_api(module_name: str) -> Callable[..., Loaded]:
    """The loader of a flavour whose models have the scikit-learn API (a bare booster goes to pyfunc)."""

    def load(path: Path, *, meta: Any, columns: tuple[Column, ...], tensors: tuple[TensorInput, ...],
             tags: Mapping[str, str]) -> Loaded:
        model = importlib.import_module(module_name).load_model(str(path))
        if not hasattr(model, "get_params"):
            return load_pyfunc(path, meta=meta, columns=columns, tensors=tensors, tags=tags)
        predictor = _estimator_or_copy(model, path=path, columns=columns, tensors=tensors, tags=tags)
        return model, predictor, estimator_classes(model)

    return load


def load_onnx(path: Path, *, meta: Any, columns: tuple[Column, ...], tensors: tuple[TensorInput, ...],
              tags: Mapping[str, str]) -> Loaded:
    """An ONNX model run by onnxruntime; its inputs must be the signature's names."""
    import onnx

    file = path / meta.flavors["onnx"]["data"]
    runner = session(str(file))
    names = {i.name for i in runner.get_inputs()}
    wanted = {t.label for t in tensors} if tensors else {c.name for c in columns}
    if len(names) > 1 and names != wanted:
        raise KubeloopError(f"the ONNX graph's inputs {sorted(names)} are not the signature's "
                            f"{sorted(wanted)}")
    classes = onnx_classes(onnx.load(str(file), load_external_data=False))
    return runner, OnnxPredictor(session=runner, columns=columns, tensors=tensors, classes=classes), classes


def load_pyfunc(path: Path, *, meta: Any, columns: tuple[Column, ...], tensors: tuple[TensorInput, ...],
                tags: Mapping[str, str]) -> Loaded:
    """A generic pyfunc model (a PythonModel, or a bare booster): MLflow's own predict."""
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(str(path))
    return model, PyfuncPredictor(model=model, columns=columns, tensors=tensors), None


LOADERS: dict[str, Callable[..., Loaded]] = {
    "sklearn": _sklearn_api("mlflow.sklearn"), "xgboost": _sklearn_api("mlflow.xgboost"),
    "lightgbm": _sklearn_api("mlflow.lightgbm"), "onnx": load_onnx, "pyfunc": load_pyfunc,
}


@dataclass(frozen=True, kw_only=True)
class PyfuncPredictor:
    """Rows -> the signature's frame (columns) or arrays (tensors) -> `PyFuncModel.predict` -> one per row."""

    model: Any
    columns: tuple[Column, ...] = ()
    tensors: tuple[TensorInput, ...] = ()
    path: str = "pyfunc"

    def __call__(self, rows: Sequence[Sequence[Any]]) -> Prediction:
        """Predict validated rows with MLflow's pyfunc (it enforces the signature's types itself)."""
        answer = per_row(self.model.predict(self._input(rows)))
        if len(answer) != len(rows):
            raise ValueError(f"the model returned {len(answer)} predictions for {len(rows)} rows")
        return Prediction(predictions=answer)

    def _input(self, rows: Sequence[Sequence[Any]]) -> Any:
        if self.tensors:
            arrays = stack(rows, self.tensors)
            return arrays[0] if len(arrays) == 1 and self.tensors[0].name is None else {
                spec.label: array for spec, array in zip(self.tensors, arrays, strict=True)}
        import pandas as pd

        frame = pd.DataFrame(list(rows), columns=[c.name for c in self.columns])
        for column in self.columns:  # 5.0 is accepted for an integer column; MLflow wants an int
            if column.kind == INTEGER:
                frame[column.name] = frame[column.name].astype("int64")
        return frame


def per_row(output: Any) -> list[Any]:
    """A pyfunc answer as one JSON-ready value per row (a frame's single column, or its records)."""
    import pandas as pd

    if isinstance(output, pd.DataFrame):
        return list(output.iloc[:, 0].tolist() if output.shape[1] == 1 else output.to_dict("records"))
    if isinstance(output, pd.Series | np.ndarray):
        return list(output.tolist())
    if isinstance(output, dict):
        arrays = {key: np.asarray(value).tolist() for key, value in output.items()}
        return [dict(zip(arrays, values, strict=True)) for values in zip(*arrays.values(), strict=True)]
    return list(output)


def _estimator_or_copy(estimator: Any, *, path: Path, columns: tuple[Column, ...],
                       tensors: tuple[TensorInput, ...], tags: Mapping[str, str]) -> Any:
    classes = estimator_classes(estimator)
    if tensors:
        if len(tensors) != 1:
            raise KubeloopError("a scikit-learn-style model takes one input tensor; its signature has more")
        return EstimatorPredictor(prepare=lambda rows: stack(rows, tensors)[0], transform=None,
                                  final=estimator,
                                  classes=classes, path="tensors")
    copy = verified_copy(path, tags)
    if copy is not None:
        return OnnxPredictor(session=session(str(copy)), columns=columns, classes=classes)
    return estimator_predictor(estimator, columns)
