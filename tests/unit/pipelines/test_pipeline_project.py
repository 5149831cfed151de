"""The project's kubeloop.yaml: where it is found, how its pipelines resolve, how a bad one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.errors import SpecError
from kubeloop.pipelines.catalog import get_pipeline, list_pipelines
from kubeloop.pipelines.project import find_config, load_project

CONFIG = """
pipelines:
  wine:
    source: flows/wine.py:wine
    description: LightGBM on the wine data
    params: {model_name: wine}
  packaged:
    source: team.flows:train
"""


def test_the_nearest_kubeloop_yaml_above_the_working_folder_is_the_project(tmp_path: Path) -> None:
    (tmp_path / "kubeloop.yaml").write_text(CONFIG)
    (tmp_path / "deep" / "er").mkdir(parents=True)
    assert find_config({}, tmp_path / "deep" / "er") == tmp_path / "kubeloop.yaml"
    other = tmp_path / "elsewhere.yaml"
    assert find_config({"KUBELOOP_CONFIG": str(other)}, tmp_path) == other


def test_registered_pipelines_resolve_relative_to_the_config_and_list_after_the_builtins(
    tmp_path: Path,
) -> None:
    (tmp_path / "kubeloop.yaml").write_text(CONFIG)
    project = load_project({}, tmp_path)
    wine = get_pipeline("wine", project=project)
    assert wine.source.file == str(tmp_path / "flows" / "wine.py") and wine.source.function == "wine"
    assert wine.defaults == {"model_name": "wine"} and wine.description == "LightGBM on the wine data"
    assert get_pipeline("packaged", project=project).source.ref == "team.flows:train"
    assert [p.name for p in list_pipelines(project)] == ["training", "wine", "packaged"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pipelines:\n  wine: {description: no source}\n", "pipelines.wine.source: Field required"),
        (
            "pipelines:\n  wine: {source: a.py, steps: 3}\n",
            "pipelines.wine.steps: Extra inputs are not permitted",
        ),
        ("pipelines: [a, b]\n", "pipelines: Input should be a valid dictionary"),
        ("- just a list\n", "expected a mapping with `pipelines:`"),
        (
            "pipelines:\n  training: {source: mine.py}\n",
            "pipelines.training: the name of a built-in pipeline",
        ),
    ],
)
def test_a_bad_project_file_is_refused_with_the_field_path(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "kubeloop.yaml").write_text(text)
    with pytest.raises(SpecError) as raised:
        list_pipelines(load_project({}, tmp_path))
    assert message in str(raised.value) and str(tmp_path / "kubeloop.yaml") in str(raised.value)
