"""Register a small scikit-learn model the way training does, for tests, benchmarks and demos of serving.

The model is logged with its signature and an input example, then registered through the kubeloop
registry, which records the artifact's sha256 that servers verify at load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kubeloop.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

IRIS_COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def iris_frame() -> pd.DataFrame:
    """The iris data set (shipped with scikit-learn) with snake_case column names and a string target."""
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    frame: pd.DataFrame = data.frame.rename(columns=dict(zip(data.feature_names, IRIS_COLUMNS, strict=True)))
    frame["species"] = [str(data.target_names[i]) for i in frame.pop("target")]
    return frame


# On the original iris, petals longer than this are about 2 rows in 5.
ERRORING_PETAL_CM = 4.8
KINDS = ("logreg", "forest", "stump", "shuffled", "erroring")


def iris_estimator(kind: str, *, seed: int = 0) -> Any:
    """An unfitted estimator of a kind: `logreg`, `forest`, `stump` (one split: right on about 2 rows in
    3), `shuffled` (fit on shuffled labels: a model that answers differently) or `erroring` (raises on
    long petals: a broken release)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    from kubeloop.demo.broken import BrokenClassifier

    if kind == "forest":
        return RandomForestClassifier(n_estimators=20, max_depth=4, random_state=seed)
    if kind == "stump":
        return DecisionTreeClassifier(max_depth=1, random_state=seed)
    if kind == "erroring":
        estimator = BrokenClassifier(max_iter=500, C=1.0 + seed)
        estimator.long_petal_cm = ERRORING_PETAL_CM
        return estimator
    if kind in ("logreg", "shuffled"):
        return LogisticRegression(max_iter=500, C=1.0 + seed)
    raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")


def register_iris(settings: Settings, *, name: str, kind: str = "logreg", seed: int = 0,
                  aliases: Sequence[str] = ("champion",)) -> str:
    """Train an iris classifier of a kind (see `iris_estimator`), log and register it; returns the version."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    frame = iris_frame()
    features, target = frame[list(IRIS_COLUMNS)], frame["species"]
    labels = target.sample(frac=1.0, random_state=seed).to_numpy() if kind == "shuffled" else target
    estimator = iris_estimator(kind, seed=seed).fit(features, labels)
    return register_logged(settings, name=name, aliases=aliases, log=lambda: mlflow.sklearn.log_model(
        # cloudpickle by reference: the servers import the estimator classes from kubeloop.
        estimator, name="model", serialization_format="cloudpickle",
        signature=infer_signature(features, target.to_numpy()),
        input_example=features.head(3),
        # Named requirements skip MLflow's inference, which imports the model in a subprocess (slow).
        pip_requirements=["scikit-learn", "cloudpickle"],
    ).model_uri)


def register_logged(settings: Settings, *, name: str, log: Callable[[], str],
                    aliases: Sequence[str] = ("champion",), tags: Mapping[str, str] | None = None,
                    onnx_copy: tuple[Any, Any] | None = None, reference: Any = None) -> str:
    """Log a model of any flavour inside a run (`log` returns its model URI) and register it, digest
    tagged; `onnx_copy=(fitted, features)` also makes and proves the servers' ONNX copy of a
    scikit-learn model, and a `reference` frame is logged for drift checks, as training does.
    Returns the version."""
    import mlflow

    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.serving.core.onnx_copy import attach_onnx_copy
    from kubeloop.training.tracking import ensure_experiment, log_reference_artifacts, logged_model_location

    settings.ensure_dirs()
    mlflow.set_tracking_uri(settings.tracking_uri)
    experiment_id = ensure_experiment(settings.tracking_uri, "kubeloop-serving",
                                      artifact_root=settings.artifact_root)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        model_uri = log()
    if reference is not None:
        log_reference_artifacts(tracking_uri=settings.tracking_uri, run_id=run.info.run_id,
                                train_features=reference, seed=0)
    all_tags = dict(tags or {})
    if onnx_copy is not None:
        location = logged_model_location(settings.tracking_uri, model_uri)
        all_tags.update(attach_onnx_copy(tracking_uri=settings.tracking_uri, location=location,
                                         model=onnx_copy[0], features=onnx_copy[1]))
    registry = MlflowRegistry(tracking_uri=settings.tracking_uri)
    version = registry.register(name=name, model_uri=model_uri, run_id=run.info.run_id, tags=all_tags,
                                aliases=aliases)
    return version.version


def iris_rows() -> list[dict[str, Any]]:
    """The iris inputs as request rows (objects keyed by column), for load generators."""
    records = iris_frame()[list(IRIS_COLUMNS)].to_dict("records")
    return [{str(name): value for name, value in row.items()} for row in records]
