"""The ONNX serving copy of a scikit-learn model: made with skl2onnx at registration, proved, then served.

Registration converts the fitted model (inputs as float64, else float32), runs the copy with
onnxruntime on the check rows (the holdout) and keeps it only when every label is identical and
every probability (or regression value) is within 1e-6 of the original's. The copy is logged
inside the model's own folder, so the artifact digest covers it, and the outcome is recorded as
the version's `kubeloop.serving.onnx` tag either way. The servers use the copy only when that tag
says it was verified; the scikit-learn model stays the source of truth (MLflow serves it, and the
servers fall back to it). Measured in bench/bench_serving.py: one row costs 15-25 us through the
copy against 0.25-11 ms through the estimator itself.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kubeloop.serving.core.estimators import estimator_classes, selects_columns_by_name
from kubeloop.serving.core.requests import NUMBER, STRING, Column

ONNX_COPY_PATH = "kubeloop/model.onnx"
TAG_ONNX_COPY = "kubeloop.serving.onnx"
TOLERANCE = 1e-6
_INPUT_TYPES = ("float64", "float32")


@dataclass(frozen=True, kw_only=True)
class CopyCheck:
    """What the proof of an ONNX copy found: kept or not, why, on how many rows, the largest difference."""

    verified: bool
    reason: str
    dtype: str | None = None
    rows: int = 0
    max_difference: float | None = None

    def tag(self) -> str:
        """The JSON recorded as the version's tag."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_tag(cls, value: str | None) -> CopyCheck | None:
        """The check back from a version's tag (None when absent or unreadable)."""
        try:
            return cls(**json.loads(value)) if value else None
        except (TypeError, ValueError):
            return None


def frame_columns(features: Any) -> tuple[Column, ...]:
    """Signature-like columns of a feature frame: strings for object/category columns, numbers otherwise."""
    return tuple(Column(name=str(name), kind=STRING if dtype.kind in "OUS" or str(dtype) == "category"
                        else NUMBER) for name, dtype in features.dtypes.items())


def convert(model: Any, columns: Sequence[Column], dtype: str) -> bytes:
    """The fitted model as ONNX bytes: one [n, 1] input per column for column selection, else a matrix."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    number = DoubleTensorType if dtype == "float64" else FloatTensorType
    if selects_columns_by_name(model):
        types = [(c.name, StringTensorType([None, 1]) if c.kind == STRING else number([None, 1]))
                 for c in columns]
    else:
        types = [("X", number([None, len(columns)]))]
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    options = {id(final): {"zipmap": False}} if hasattr(final, "predict_proba") else None
    return bytes(convert_sklearn(model, initial_types=types, options=options).SerializeToString())


def prove(model: Any, copy: bytes, features: Any) -> CopyCheck:
    """Run the copy and the original on the same rows and compare labels and probabilities."""
    from kubeloop.serving.core.onnx_model import OnnxPredictor, session

    columns = frame_columns(features)
    classes = estimator_classes(model)
    predictor = OnnxPredictor(session=session(copy), columns=columns, classes=classes)
    answer = predictor(features.to_numpy(dtype=object).tolist())
    expected = np.asarray(model.predict(features)).tolist()
    rows = len(expected)
    if classes is None:
        scale = np.maximum(1.0, np.abs(np.asarray(expected, dtype=np.float64)))
        served = np.asarray(answer.predictions, dtype=np.float64)
        difference = float(np.max(np.abs(served - expected) / scale))
        return _verdict(rows=rows, difference=difference, what="relative value difference", labels="")
    if [(type(v), v) for v in answer.predictions] != [(type(v), v) for v in expected]:
        wrong = sum(a != b for a, b in zip(answer.predictions, expected, strict=True))
        return CopyCheck(verified=False, reason=f"{wrong} of {rows} labels differ", rows=rows)
    difference = float(np.max(np.abs(np.asarray(answer.probabilities) - model.predict_proba(features))))
    return _verdict(rows=rows, difference=difference, what="probability difference",
                    labels="identical labels; ")


def make_copy(model: Any, features: Any) -> tuple[bytes | None, CopyCheck]:
    """The first input type whose copy converts and is proved on `features`, or None and why not."""
    reasons = []
    for dtype in _INPUT_TYPES:
        try:
            copy = convert(model, frame_columns(features), dtype)
            check = prove(model, copy, features)
        except Exception as error:  # noqa: BLE001 - skl2onnx/onnxruntime refuse in many ways: record why
            reasons.append(f"{dtype}: {type(error).__name__}: {str(error).splitlines()[0][:160]}")
            continue
        if check.verified:
            return copy, CopyCheck(**{**asdict(check), "dtype": dtype})
        reasons.append(f"{dtype}: {check.reason}")
    return None, CopyCheck(verified=False, reason="; ".join(reasons), rows=len(features))


def attach_onnx_copy(*, tracking_uri: str, location: str, model: Any, features: Any) -> dict[str, str]:
    """Make and prove the copy of a fitted model and log it into its model folder at `location` (the
    artifact location holding MLmodel, before the version is registered); return the tags to set."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    copy, check = make_copy(model, features)
    if copy is not None:
        with tempfile.TemporaryDirectory(prefix="kubeloop-onnx-") as scratch:
            path = Path(scratch) / Path(ONNX_COPY_PATH).name
            path.write_bytes(copy)
            repository = get_artifact_repository(location, tracking_uri=tracking_uri)
            repository.log_artifact(str(path), artifact_path=str(Path(ONNX_COPY_PATH).parent))
    return {TAG_ONNX_COPY: check.tag()}


def attach_for_folder(*, tracking_uri: str, location: str, folder: Path, features: Any) -> dict[str, str]:
    """`attach_onnx_copy` for a downloaded model folder: a scikit-learn model gets its copy; any other
    flavour (or no rows to prove it on) gets no tag."""
    import mlflow.models
    import mlflow.sklearn

    if features is None or "sklearn" not in mlflow.models.Model.load(str(folder)).flavors:
        return {}
    model = mlflow.sklearn.load_model(str(folder))
    return attach_onnx_copy(tracking_uri=tracking_uri, location=location, model=model, features=features)


def verified_copy(folder: Path, tags: Mapping[str, str]) -> Path | None:
    """The ONNX copy in a downloaded (digest-checked) model folder, when its tag says it was proved."""
    check = CopyCheck.from_tag(tags.get(TAG_ONNX_COPY))
    path = folder / ONNX_COPY_PATH
    return path if check is not None and check.verified and path.is_file() else None


def _verdict(*, rows: int, difference: float, what: str, labels: str) -> CopyCheck:
    if difference <= TOLERANCE:
        return CopyCheck(verified=True, reason=f"{labels}largest {what} {difference:.2g} on {rows} rows",
                         rows=rows, max_difference=difference)
    return CopyCheck(verified=False, reason=f"largest {what} {difference:.2g} exceeds {TOLERANCE:g}",
                     rows=rows, max_difference=difference)
