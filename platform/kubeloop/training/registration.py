"""Registering a logged MLflow model of any flavour: the one function behind the pipelines' register step
and `kubeloop models register`.

    registration = register_model(tracking_uri=uri, model_uri="runs:/<run>/model", name="wine",
                                  reference="train.parquet")          # or a DataFrame, or None

In order: locate the model (NotFoundError when the URI has none), check its MLmodel (a signature,
a flavour the servers load: refused before anything is written), choose the drift reference (the
given table, else the model's input example, saying which), log the reference sample and profile on
the model's run, register the version (artifact sha256, data digest, gate and lineage tags), then
set its alias: `champion` for a model's first version, `challenger` after, unless one is asked for.
Each stage is one function, so a further check or a serving copy verified at registration slots in.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubeloop.errors import KubeloopError
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.registry.names import (
    CHALLENGER,
    CHAMPION,
    TAG_ARTIFACT_SHA256,
    TAG_DATA_DIGEST,
    TAG_FLAVOR,
    TAG_MODEL_NAME,
    TAG_MODEL_VERSION,
    TAG_REFERENCE_SOURCE,
    TAG_REGISTERED_BY,
    TAG_SOURCE_RUN,
    TAG_SOURCE_URI,
)
from kubeloop.registry.servable import input_names, missing_signature_message, model_flavor
from kubeloop.registry.sources import ModelSource
from kubeloop.serving.core.flavours import unservable_reason

ALIASES = (CHAMPION, CHALLENGER)
# Tags a pipeline's steps leave on the model's run that its registered version carries too.
RUN_TAGS_KEPT = ("kubeloop.task", "kubeloop.target", "kubeloop.estimator", "kubeloop.pipeline_run")
REGISTRATIONS_EXPERIMENT = "kubeloop-registrations"


class ModelRefused(KubeloopError):
    """A model that cannot be registered for serving: no signature, a flavour the servers cannot load."""


@dataclass(frozen=True, kw_only=True)
class Inspected:
    """What registration learnt from the model's MLmodel file."""

    flavor: str
    columns: tuple[str, ...]
    example: Any  # the input example as a DataFrame, or None
    local_path: Path


@dataclass(frozen=True, kw_only=True)
class Registration:
    """A registered version: its alias, digest and where its drift reference came from."""

    name: str
    version: str
    alias: str
    digest: str
    flavor: str
    reference: str
    run_id: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view for `--json` output."""
        return asdict(self)


def choose_alias(*, requested: str, has_champion: bool) -> str:
    """The alias a new version gets: the one asked for, else champion for a first version, else challenger."""
    if requested and requested not in ALIASES:
        raise KubeloopError(f"alias: expected {' or '.join(ALIASES)}, got {requested!r}")
    return requested or (CHALLENGER if has_champion else CHAMPION)


def register_model(
    *,
    tracking_uri: str,
    model_uri: str,
    name: str,
    reference: Any = None,
    reference_name: str = "",
    check_rows: Any = None,
    alias: str = "",
    tags: Mapping[str, str] | None = None,
    data_digest: str = "",
    registered_by: str = "kubeloop models register",
    artifact_root: str = "",
) -> Registration:
    """Register (or adopt) the model at `model_uri` as a new version of `name`; see the module docstring.

    `reference` is a DataFrame, a CSV/Parquet path, or None for the model's input example;
    `reference_name` says what it is in the version's reference tag (default: the path).
    `check_rows` (a DataFrame, default the reference) are the rows a scikit-learn model's ONNX
    serving copy must answer exactly as the model does before it is kept (`serving_copy_tags`).
    """
    registry = MlflowRegistry(tracking_uri=tracking_uri)
    if alias:
        choose_alias(requested=alias, has_champion=False)  # refuse an unknown alias before any work
    source = registry.locate(model_uri)
    with tempfile.TemporaryDirectory(prefix="kubeloop-adopt-") as scratch:
        inspected = inspect_model(registry, source, Path(scratch))
        frame, described = reference_frame(reference, inspected, name=reference_name)
        run_id = source.run_id or _registration_run(tracking_uri, artifact_root)
        if frame is not None:
            _log_reference(tracking_uri, run_id, frame, inspected)
        rows = frame if check_rows is None else check_rows
        serving = serving_copy_tags(tracking_uri, source, inspected, rows)
    digest = data_digest or (_digest(frame) if frame is not None and reference is not None else "")
    lineage = {
        TAG_SOURCE_URI: model_uri,
        TAG_SOURCE_RUN: source.run_id or "",
        TAG_FLAVOR: inspected.flavor,
        TAG_REGISTERED_BY: registered_by,
        TAG_REFERENCE_SOURCE: described,
        **({TAG_DATA_DIGEST: digest} if digest else {}),
    }
    version = registry.register(
        name=name,
        model_uri=model_uri,
        run_id=run_id,
        tags={**_run_tags(registry, run_id), **dict(tags or {}), **lineage, **serving},
    )
    has_champion = registry.version_for_alias(name, CHAMPION) is not None
    chosen = choose_alias(requested=alias, has_champion=has_champion)
    _set_alias(registry, name=name, alias=chosen, version=version.version)
    _tag_run(tracking_uri, run_id, {TAG_MODEL_NAME: name, TAG_MODEL_VERSION: version.version})
    return Registration(
        name=name,
        version=version.version,
        alias=chosen,
        digest=version.tags[TAG_ARTIFACT_SHA256],
        flavor=inspected.flavor,
        reference=described,
        run_id=run_id,
    )


def inspect_model(registry: MlflowRegistry, source: ModelSource, scratch: Path) -> Inspected:
    """Download the model and check its MLmodel: ModelRefused without a signature or a servable flavour."""
    import mlflow.models

    path = registry.download_location(source.location, scratch / "model")
    meta = mlflow.models.Model.load(str(path))
    flavor = model_flavor(meta.flavors)
    if meta.signature is None:
        raise ModelRefused(missing_signature_message(model_uri=source.uri, flavor=flavor))
    signature = meta.signature.to_dict()
    reason = unservable_reason(flavors=meta.flavors, signature=signature)
    if reason is not None:
        raise ModelRefused(f"model {source.uri} cannot be served: {reason}")
    example = meta.load_input_example(str(path)) if meta.saved_input_example_info else None
    return Inspected(flavor=flavor, columns=tuple(input_names(signature)), example=example, local_path=path)


def reference_frame(reference: Any, inspected: Inspected, *, name: str = "") -> tuple[Any, str]:
    """The drift reference (the signature's columns) and a note saying where it came from."""
    import pandas as pd

    if reference is None:
        if inspected.example is None or not isinstance(inspected.example, pd.DataFrame):
            return None, "none (no reference table and no input example): drift checks report no_reference"
        return _columns(inspected.example, inspected, "the input example"), (
            f"the model's input example ({len(inspected.example)} rows)"
        )
    if isinstance(reference, pd.DataFrame):
        return _columns(
            reference, inspected, "the reference table"
        ), f"{name or 'a table'} ({len(reference)} rows)"
    from kubeloop.training.data import load_table

    frame = load_table(str(reference))
    return _columns(frame, inspected, str(reference)), f"{name or f'file {reference}'} ({len(frame)} rows)"


def _columns(frame: Any, inspected: Inspected, what: str) -> Any:
    missing = [c for c in inspected.columns if c not in frame.columns]
    if missing:
        raise KubeloopError(f"{what} lacks the model's input column(s) {', '.join(missing)}")
    return frame[list(inspected.columns)].reset_index(drop=True)


def _log_reference(tracking_uri: str, run_id: str, frame: Any, inspected: Inspected) -> None:
    from kubeloop.training.champion import load_pyfunc
    from kubeloop.training.tracking import log_reference_artifacts

    try:
        predictions = load_pyfunc(inspected.local_path).predict(frame)
    except Exception as error:  # noqa: BLE001 - whatever the flavour raises, the model cannot serve this
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelRefused(f"the model cannot predict its reference rows: {first[:200]}") from None
    log_reference_artifacts(
        tracking_uri=tracking_uri, run_id=run_id, train_features=frame, seed=0, predictions=_flat(predictions)
    )


def serving_copy_tags(
    tracking_uri: str, source: ModelSource, inspected: Inspected, rows: Any
) -> dict[str, str]:
    """Make the ONNX serving copy of a scikit-learn model, logged beside it before the digest is taken,
    and return the tag recording whether it was proved on `rows` (no rows, or another flavour: none)."""
    from kubeloop.serving.core.onnx_copy import attach_for_folder

    features = None if rows is None else _columns(rows, inspected, "the check rows")
    return attach_for_folder(
        tracking_uri=tracking_uri, location=source.location, folder=inspected.local_path, features=features
    )


def _flat(predictions: Any) -> Any:
    """One prediction per row: the first column of a frame or matrix (a label or a score)."""
    import numpy as np

    values = predictions.to_numpy() if hasattr(predictions, "to_numpy") else np.asarray(predictions)
    return values[:, 0] if values.ndim == 2 else values


def _digest(frame: Any) -> str:
    from kubeloop.training.data import data_digest

    return data_digest(frame)


def _registration_run(tracking_uri: str, artifact_root: str) -> str:
    """A run to hold the reference of a model that has none of its own (a LoggedModel without a run)."""
    from kubeloop.training import tracking

    experiment = tracking.ensure_experiment(
        tracking_uri, REGISTRATIONS_EXPERIMENT, artifact_root=artifact_root
    )
    return tracking.record_run(
        tracking_uri=tracking_uri, experiment_id=experiment, params={}, metrics={}, tags={}
    )


def _run_tags(registry: MlflowRegistry, run_id: str) -> dict[str, str]:
    from kubeloop.training.tracking import tracking_client

    tags = tracking_client(registry.tracking_uri).get_run(run_id).data.tags
    return {k: v for k, v in tags.items() if k in RUN_TAGS_KEPT or k.startswith("kubeloop.gate.")}


def _tag_run(tracking_uri: str, run_id: str, tags: Mapping[str, str]) -> None:
    from kubeloop.training.tracking import tracking_client

    client = tracking_client(tracking_uri)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def _set_alias(registry: MlflowRegistry, *, name: str, alias: str, version: str) -> None:
    if alias == CHAMPION:
        registry.promote(name=name, version=version)  # the old champion, if any, becomes `previous`
    else:
        registry.set_alias(name=name, alias=alias, version=version)
