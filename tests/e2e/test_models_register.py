"""`kubeloop models register` against a real MLflow store: a model logged the way a notebook does is
adopted (digest the servers verify, drift reference from a file or the input example, lineage), and
every refusal is one line with nothing registered.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rollout_harness import main_in_process

from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.registry.names import TAG_FLAVOR, TAG_REFERENCE_SOURCE, TAG_REGISTERED_BY
from kubeloop.settings import HOME_ENV, TRACKING_ENV, Settings, load_settings

pytestmark = [pytest.mark.e2e]


@dataclass(frozen=True)
class Logged:
    settings: Settings
    runs: dict[str, str]  # kind -> run id
    reference: Path


def _log(settings: Settings, kind: str) -> str:
    """A model logged with plain MLflow: sklearn with a signature, sklearn without, statsmodels."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    from kubeloop.training.tracking import ensure_experiment

    features, target = load_diabetes(return_X_y=True, as_frame=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_experiment(
        experiment_id=ensure_experiment(settings.tracking_uri, "nb", artifact_root=settings.artifact_root)
    )
    with mlflow.start_run() as run:
        if kind == "statsmodels":
            import statsmodels.api as sm

            fitted = sm.OLS(target.to_numpy(), np.asarray(features)).fit()
            frame = pd.DataFrame(np.asarray(features), columns=list(features.columns))
            mlflow.statsmodels.log_model(
                fitted, name="model", signature=infer_signature(frame, fitted.predict(frame))
            )
        else:
            model = Ridge().fit(features, target)
            signed = kind == "sklearn"  # MLflow infers a signature from an input example: none for either
            mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(features, model.predict(features)) if signed else None,
                input_example=features.head(5) if signed else None,
                pip_requirements=["scikit-learn"],
            )
    return str(run.info.run_id)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Logged]:
    from sklearn.datasets import load_diabetes

    folder = tmp_path_factory.mktemp("adopt")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV, str(folder / "home"))
        patch.delenv(TRACKING_ENV, raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        settings = load_settings().ensure_dirs()
        runs = {kind: _log(settings, kind) for kind in ("sklearn", "unsigned", "statsmodels")}
        load_diabetes(as_frame=True).frame.to_csv(folder / "train.csv", index=False)
        yield Logged(settings, runs, folder / "train.csv")


def cli(capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return main_in_process(capfd, *args)


def versions(logged: Logged, name: str) -> list[Any]:
    return MlflowRegistry(tracking_uri=logged.settings.tracking_uri).list_versions(name)


def test_a_notebook_model_is_adopted_with_a_file_reference_then_with_its_input_example(
    logged: Logged, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setenv(HOME_ENV, str(logged.settings.home))
    uri = f"runs:/{logged.runs['sklearn']}/model"
    code, out, err = cli(
        capfd,
        "models",
        "register",
        "--model-uri",
        uri,
        "--name",
        "diabetes",
        "--reference",
        str(logged.reference),
        "--json",
    )
    assert code == 0, err
    first = json.loads(out)
    assert first["version"] == "1" and first["alias"] == "champion" and first["flavor"] == "sklearn"
    assert first["reference"] == f"file {logged.reference} (442 rows)"  # the target column is left out
    code, out, err = cli(capfd, "models", "register", "--model-uri", uri, "--name", "diabetes", "--json")
    assert code == 0, err
    second = json.loads(out)
    assert second["alias"] == "challenger" and second["reference"] == "the model's input example (5 rows)"
    registry = MlflowRegistry(tracking_uri=logged.settings.tracking_uri)
    assert registry.get_model("diabetes").aliases == {"champion": "1", "challenger": "2"}
    tags = registry.get_version("diabetes", "2").tags
    assert tags[TAG_FLAVOR] == "sklearn" and tags[TAG_REGISTERED_BY] == "kubeloop models register"
    assert tags[TAG_REFERENCE_SOURCE] == second["reference"]
    registry.download_verified(name="diabetes", version="2")


@pytest.mark.parametrize(
    ("kind", "uri", "message"),
    [
        (
            "sklearn",
            "runs:/0123456789abcdef0123456789abcdef/model",
            "model URI runs:/0123456789abcdef0123456789abcdef/model does not exist",
        ),
        ("sklearn", "runs:/{run}/elsewhere", "does not exist: run {run} logged no model named 'elsewhere'"),
        (
            "sklearn",
            "models:/m-0123456789abcdef0123456789abcdef",
            "model URI models:/m-0123456789abcdef0123456789abcdef does not exist",
        ),
        (
            "unsigned",
            "runs:/{run}/model",
            "runs:/{run}/model has no signature; log it with one: mlflow.sklearn.log_model(",
        ),
        (
            "statsmodels",
            "runs:/{run}/model",
            "cannot be served: flavour statsmodels cannot be served",
        ),
    ],
)
def test_refusals_are_one_line_and_register_nothing(
    logged: Logged,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    uri: str,
    message: str,
) -> None:
    monkeypatch.setenv(HOME_ENV, str(logged.settings.home))
    run = logged.runs[kind]
    code, _, err = cli(
        capfd, "models", "register", "--model-uri", uri.format(run=run), "--name", f"refused-{kind}"
    )
    assert code == 1 and message.format(run=run) in err, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert versions(logged, f"refused-{kind}") == []
