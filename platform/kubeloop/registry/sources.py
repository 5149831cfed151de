"""Where a logged MLflow model's files are: `runs:/<run>/<path>`, `models:/m-<id>`, or an artifact URI.

MLflow 3 logs a model as a LoggedModel (`models:/m-<id>`) tied to its run; a model logged by an
MLflow 2 client sits among the run's artifacts. `locate_model` resolves either the way
`mlflow.register_model` does, so that the digest is computed on exactly the files a version points to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kubeloop.errors import KubeloopError, NotFoundError

_RUNS_URI = re.compile(r"^runs:/(?P<run>[^/]+)/(?P<path>.+?)/?$")
_LOGGED_MODEL_URI = re.compile(r"^models:/(?P<id>m-[0-9a-f]+)$")
_MLMODEL = "MLmodel"


@dataclass(frozen=True, kw_only=True)
class ModelSource:
    """A logged model: the artifact location holding MLmodel, its LoggedModel id and run when known."""

    uri: str  # what the user gave
    location: str
    model_id: str | None = None
    run_id: str | None = None

    @property
    def version_source(self) -> str:
        """The `source` a registered version records: the LoggedModel URI, else the artifact location."""
        return f"models:/{self.model_id}" if self.model_id else self.location


def locate_model(client: Any, model_uri: str) -> ModelSource:
    """Resolve a model URI with an MlflowClient; NotFoundError when there is no model there."""
    from mlflow.exceptions import MlflowException

    try:
        if match := _LOGGED_MODEL_URI.match(model_uri):
            return _logged_model(client, model_uri, match.group("id"))
        if match := _RUNS_URI.match(model_uri):
            return _run_model(client, model_uri, match.group("run"), match.group("path"))
    except MlflowException as error:
        if getattr(error, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            raise NotFoundError(f"model URI {model_uri} does not exist: {_first_line(error)}") from None
        raise KubeloopError(f"model URI {model_uri}: {_first_line(error)}") from None
    if model_uri.startswith("models:/"):
        raise KubeloopError(
            f"model URI {model_uri}: give runs:/<run>/<path> or models:/m-<id> (a logged model), "
            "not a registered version"
        )
    return ModelSource(uri=model_uri, location=model_uri)


def _logged_model(client: Any, uri: str, model_id: str) -> ModelSource:
    found = client.get_logged_model(model_id)
    return ModelSource(
        uri=uri, location=found.artifact_location, model_id=model_id, run_id=found.source_run_id or None
    )


def _run_model(client: Any, uri: str, run_id: str, path: str) -> ModelSource:
    from mlflow.artifacts import list_artifacts

    run = client.get_run(run_id)
    # The run's own artifacts (an MLflow 2 model), listed at their store: `runs:/` would find a LoggedModel.
    location = f"{run.info.artifact_uri}/{path}"
    if _MLMODEL in {a.path.rsplit("/", 1)[-1] for a in list_artifacts(artifact_uri=location) or []}:
        return ModelSource(uri=uri, location=location, run_id=run_id)
    logged = [
        m
        for m in client.search_logged_models(
            experiment_ids=[run.info.experiment_id], filter_string=f"name = '{path}'"
        )
        if m.source_run_id == run_id
    ]
    if not logged:
        raise NotFoundError(f"model URI {uri} does not exist: run {run_id} logged no model named {path!r}")
    newest = max(logged, key=lambda m: m.creation_timestamp)
    return ModelSource(uri=uri, location=newest.artifact_location, model_id=newest.model_id, run_id=run_id)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
