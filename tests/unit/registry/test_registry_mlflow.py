"""MlflowRegistry against a real MLflow SQLite store: register, aliases, resolve, tags, verified download."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.errors import BackendUnavailable, IntegrityError, KubeloopError, NotFoundError
from kubeloop.registry.digest import tree_sha256
from kubeloop.registry.mlflow_registry import MlflowRegistry, check_reachable
from kubeloop.registry.names import CHALLENGER, CHAMPION, PREVIOUS, TAG_ARTIFACT_SHA256
from kubeloop.settings import load_settings

NAME = "unit-model"


def _log_model(tracking_uri: str, artifacts: Path) -> tuple[str, str]:
    """Log a tiny scikit-learn model on a fresh run; return (model_uri, run_id)."""
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LogisticRegression

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("unit")
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment("unit", artifact_location=artifacts.as_uri())
    )
    frame = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    model = LogisticRegression().fit(frame, [0, 0, 1, 1])
    run = client.create_run(experiment_id)
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run.info.run_id):
        info = mlflow.sklearn.log_model(model, name="model", input_example=frame.head(2), pip_requirements=[])
    return info.model_uri, run.info.run_id


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> MlflowRegistry:
    """A registry with three versions of NAME: v1 champion, v2 challenger, v3 without alias."""
    home = tmp_path_factory.mktemp("registry-home")
    settings = load_settings({"KUBELOOP_HOME": str(home)}).ensure_dirs()
    registry = MlflowRegistry.from_settings(settings)
    for aliases in ([CHAMPION], [CHALLENGER], []):
        uri, run_id = _log_model(settings.tracking_uri, settings.artifacts_dir)
        registry.register(
            name=NAME, model_uri=uri, run_id=run_id, tags={"kubeloop.task": "binary"}, aliases=aliases
        )
    return registry


def test_register_records_tags_aliases_and_the_artifact_digest(registry: MlflowRegistry) -> None:
    first = registry.get_version(NAME, 1)
    assert first.aliases == (CHAMPION,)
    assert first.tags["kubeloop.task"] == "binary"
    assert len(first.tags[TAG_ARTIFACT_SHA256]) == 64
    assert first.run_id and first.source.startswith("models:/m-")
    assert first.uri == f"models:/{NAME}/1"


def test_lists_models_and_versions_newest_first(registry: MlflowRegistry) -> None:
    (model,) = [m for m in registry.list_models() if m.name == NAME]
    assert model.aliases == {CHAMPION: "1", CHALLENGER: "2"}
    assert model.latest_version == "3"
    assert [v.version for v in registry.list_versions(NAME)] == ["3", "2", "1"]
    assert registry.list_versions("no-such-model") == []


@pytest.mark.parametrize(
    ("ref", "name", "version"),
    [
        (f"models:/{NAME}@champion", None, "1"),
        (f"models:/{NAME}/2", None, "2"),
        ("3", NAME, "3"),
        ("v2", NAME, "2"),
        (CHALLENGER, NAME, "2"),
    ],
)
def test_resolve_accepts_uris_versions_and_aliases(
    registry: MlflowRegistry, ref: str, name: str | None, version: str
) -> None:
    assert registry.resolve(ref, name=name).version == version


def test_resolve_and_lookups_name_what_is_missing(registry: MlflowRegistry) -> None:
    with pytest.raises(NotFoundError, match="no alias 'previous'"):
        registry.resolve(f"models:/{NAME}@previous")
    with pytest.raises(NotFoundError, match="version 42"):
        registry.get_version(NAME, 42)
    with pytest.raises(NotFoundError, match="'ghost'"):
        registry.get_model("ghost")
    with pytest.raises(KubeloopError, match="expected models:/"):
        registry.resolve("champion")
    assert registry.version_for_alias("ghost", CHAMPION) is None


def test_download_verified_returns_the_folder_holding_mlmodel(
    registry: MlflowRegistry, tmp_path: Path
) -> None:
    path = registry.download_verified(name=NAME, version=1, dst=tmp_path / "dl")
    assert (path / "MLmodel").is_file()
    assert tree_sha256(path) == registry.get_version(NAME, 1).tags[TAG_ARTIFACT_SHA256]
    assert "registered_model_meta" not in {p.name for p in path.iterdir()}


def test_download_verified_refuses_a_tampered_artifact(registry: MlflowRegistry, tmp_path: Path) -> None:
    registry.set_tags(name=NAME, version=3, tags={TAG_ARTIFACT_SHA256: "0" * 64})
    with pytest.raises(IntegrityError, match="does not match"):
        registry.download_verified(name=NAME, version=3, dst=tmp_path / "dl")


def test_set_tags_stores_strings(registry: MlflowRegistry) -> None:
    registry.set_tags(name=NAME, version=2, tags={"kubeloop.gate.value": 0.93})
    assert registry.get_version(NAME, 2).tags["kubeloop.gate.value"] == "0.93"


def test_promote_flips_champion_to_previous_and_clears_challenger(registry: MlflowRegistry) -> None:
    promoted = registry.promote(name=NAME, version=2)
    assert promoted.aliases == (CHAMPION,)
    assert registry.get_model(NAME).aliases == {CHAMPION: "2", PREVIOUS: "1"}
    registry.set_alias(name=NAME, alias=CHAMPION, version=1)
    registry.delete_alias(name=NAME, alias=PREVIOUS)
    registry.delete_alias(name=NAME, alias=PREVIOUS)  # a no-op the second time
    registry.set_alias(name=NAME, alias=CHALLENGER, version=2)
    assert registry.get_model(NAME).aliases == {CHAMPION: "1", CHALLENGER: "2"}


def test_an_unreachable_tracking_server_is_one_clear_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port} is unreachable"):
        check_reachable(f"http://127.0.0.1:{port}")
