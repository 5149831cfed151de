"""Loading the models an evaluation compares: the candidate from its MLflow URI, the verified champion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.registry.names import CHAMPION


def load_candidate(tracking_uri: str, model_uri: str, scratch: Path) -> tuple[Any, str | None]:
    """The candidate as a pyfunc model (any flavour) and the run that logged it."""
    registry = MlflowRegistry(tracking_uri=tracking_uri)
    source = registry.locate(model_uri)
    path = registry.download_location(source.location, scratch / "candidate")
    return load_pyfunc(path), source.run_id


def load_pyfunc(path: Path) -> Any:
    """A downloaded model as pyfunc, without MLflow's requirement check: that walks every installed
    distribution (about a second in a fresh task process) to print a warning, not to load the model."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(str(path), suppress_warnings=True)


def model_inputs(model: Any, features: Any) -> Any:
    """The columns a pyfunc model's signature names (all of them when it names none)."""
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        return features
    return features[[name for name in schema.input_names() if name in features.columns]]


def champion_scores(
    tracking_uri: str, name: str, features: Any, labels: Any, task: str, scratch: Path, *, weights: Any = None
) -> dict[str, Any]:
    """The champion's version and metrics on the same holdout, or a note saying why it could not score it."""
    from kubeloop.training.evaluation import score_model

    registry = MlflowRegistry(tracking_uri=tracking_uri)
    champion = registry.version_for_alias(name, CHAMPION)
    if champion is None:
        return {}
    path = registry.download_verified(name=name, version=champion.version, dst=scratch / "champion")
    try:
        model = load_pyfunc(path)
        metrics = score_model(model, model_inputs(model, features), labels, task=task, weights=weights)
    except Exception as error:  # noqa: BLE001 - a champion on other columns or another task cannot compare
        first = str(error).strip().splitlines()[0][:120] if str(error).strip() else type(error).__name__
        note = f" (champion v{champion.version} could not score this holdout: {first})"
        return {"champion_version": champion.version, "note": note}
    return {"champion_version": champion.version, "champion_metrics": metrics}
