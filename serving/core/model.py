"""Loading one registered model version, verified against its registered sha256, and predicting rows.

The MLmodel's flavour picks the loader (`flavours.serving_flavour`); a model no server can load is
refused here, naming its flavour, before any of its code is unpickled. Each loader picks the
cheapest predictor that gives the model's own answers (see `estimators`, `onnx_model`, `pyfunc`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeloop.errors import KubeloopError
from kubeloop.serving.core.estimators import EstimatorPredictor, estimator_predictor, selects_columns_by_name
from kubeloop.serving.core.flavours import PYFUNC, model_servability
from kubeloop.serving.core.prediction import Prediction
from kubeloop.serving.core.requests import Column, parse_rows
from kubeloop.serving.core.tensors import TensorInput, parse_tensor_rows, tensor_inputs
from kubeloop.settings import Settings

__all__ = ["LoadedModel", "Prediction", "load_local", "load_registered", "selects_columns_by_name"]
Predictor = Callable[[Sequence[Sequence[Any]]], Prediction]


@dataclass(frozen=True, kw_only=True)
class LoadedModel:
    """A model version ready to predict, with the signature requests are validated against."""

    name: str
    version: str
    columns: tuple[Column, ...]
    estimator: Any
    classes: tuple[Any, ...] | None = None
    # For a bare estimator: True feeds it a float matrix, False a frame (ignored when `predictor` is set).
    native: bool = False
    tensors: tuple[TensorInput, ...] = ()
    predictor: Predictor | None = None
    flavour: str = "sklearn"

    def __post_init__(self) -> None:
        if self.predictor is None:
            predictor = estimator_predictor(self.estimator, self.columns) if self.native else None
            object.__setattr__(self, "predictor", predictor or EstimatorPredictor(
                prepare=_frame_of(self.columns), transform=None, final=self.estimator, classes=self.classes,
                path="frame"))

    @property
    def serving_path(self) -> str:
        """How rows reach the model: onnx, columns (index-based), matrix, frame, pyfunc or tensors."""
        return str(getattr(self.predictor, "path", "custom"))

    @property
    def input_names(self) -> list[str]:
        """The names of the inputs, in the order each row holds them."""
        return [t.label for t in self.tensors] if self.tensors else [c.name for c in self.columns]

    def parse(self, payload: Mapping[str, Any], *, max_rows: int) -> list[list[Any]]:
        """Rows from a request body, checked against the signature (columns or tensors)."""
        if self.tensors:
            return parse_tensor_rows(payload, self.tensors, max_rows=max_rows)
        return parse_rows(payload, self.columns, max_rows=max_rows)

    def predict(self, rows: Sequence[Sequence[Any]]) -> Prediction:
        """Predict validated rows (signature order) in one call to the model."""
        assert self.predictor is not None
        return self.predictor(rows)

    def v2_inputs(self) -> list[dict[str, Any]]:
        """Open Inference Protocol metadata of the inputs."""
        if self.tensors:
            return [{"name": t.label, "datatype": t.v2_datatype, "shape": list(t.shape)}
                    for t in self.tensors]
        return [{"name": c.name, "datatype": c.v2_datatype, "shape": [-1, 1]} for c in self.columns]


def load_local(path: Path, *, name: str, version: str, tags: Mapping[str, str] | None = None) -> LoadedModel:
    """Load a downloaded MLflow model folder by its flavour; refuse (naming it) a flavour none can serve."""
    import mlflow.models

    from kubeloop.serving.core import loaders

    meta = mlflow.models.Model.load(str(path))
    verdict = model_servability(meta)
    inputs = meta.signature.inputs.to_dict() if verdict.servable else None
    if not verdict.servable or verdict.flavour is None or inputs is None:
        raise KubeloopError(f"model {name!r} version {version} cannot be served: {verdict.reason}")
    tensors = tensor_inputs(inputs) if verdict.inputs == "tensors" else ()
    columns = () if tensors else tuple(Column.from_mlflow(spec["name"], spec["type"]) for spec in inputs)
    load = loaders.LOADERS[verdict.flavour if verdict.flavour != PYFUNC else "pyfunc"]
    try:
        estimator, predictor, classes = load(path, meta=meta, columns=columns, tensors=tensors,
                                             tags=tags or {})
    except ImportError as error:
        raise KubeloopError(f"model {name!r} version {version} is a {verdict.flavour} model, but this server "
                            f"lacks {error.name or error} (pip install 'kubeloop[frameworks]')") from error
    return LoadedModel(name=name, version=version, columns=columns, estimator=estimator, classes=classes,
                       tensors=tensors, predictor=predictor, flavour=verdict.flavour)


def load_registered(settings: Settings, *, name: str, ref: str) -> LoadedModel:
    """Resolve `ref` (version, alias or models:/ URI), download it verified and load it.

    A digest mismatch raises IntegrityError before any model code is unpickled.
    """
    from kubeloop.registry.mlflow_registry import MlflowRegistry

    registry = MlflowRegistry(tracking_uri=settings.tracking_uri)
    found = registry.resolve(ref, name=name)
    folder = Path(tempfile.mkdtemp(prefix=f"kubeloop-serve-{name}-v{found.version}-"))
    path = registry.download_verified(name=name, version=found.version, dst=folder)
    return load_local(path, name=name, version=found.version, tags=found.tags)


def _frame_of(columns: Sequence[Column]) -> Callable[[Sequence[Sequence[Any]]], Any]:
    names = [c.name for c in columns]

    def frame(rows: Sequence[Sequence[Any]]) -> Any:
        import pandas as pd

        return pd.DataFrame(list(rows), columns=names)

    return frame
