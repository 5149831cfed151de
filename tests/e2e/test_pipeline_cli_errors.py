"""`kubeloop pipeline run|compile|submit` on a bad user pipeline or parameter: one line, exit 1, no run
started and nothing registered."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from rollout_harness import main_in_process

from kubeloop.settings import HOME_ENV, TRACKING_ENV

pytestmark = [pytest.mark.e2e]

FLOW = """
from kfp import dsl

@dsl.component(base_image="registry.example/acme/job:1", install_kfp_package=False)
def count(rows: int) -> int:
    return rows

@dsl.component(base_image="registry.example/acme/job:1", install_kfp_package=False)
def word() -> str:
    return "many"

def helper(rows: int) -> int:
    return rows

@dsl.pipeline
def flow(name: str, rows: int = 10, share: float = 0.5) -> None:
    count(rows=rows)
"""
BROKEN = (
    FLOW
    + """
@dsl.pipeline
def mistyped(rows: int = 10) -> None:
    count(rows=word().output)
"""
)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    monkeypatch.delenv(TRACKING_ENV, raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flow.py").write_text(textwrap.dedent(FLOW))
    (tmp_path / "broken.py").write_text(textwrap.dedent(BROKEN))
    (tmp_path / "syntax.py").write_text("from kfp import dsl\n\ndef flow(:\n")
    return tmp_path


def cli(capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, _, err = main_in_process(capfd, *args)
    return code, err


BAD_REFERENCES = [
    ("missing.py:flow", "pipeline file {folder}/missing.py does not exist"),
    ("flow.py:other", "{folder}/flow.py has no function 'other' (pipelines: flow)"),
    ("flow.py:helper", "flow.py:helper is not a KFP pipeline: decorate it with @dsl.pipeline"),
    ("syntax.py", "pipeline file {folder}/syntax.py fails to compile: SyntaxError"),
    ("broken.py:mistyped", "broken.py fails to compile: InconsistentTypeException"),
    ("no_such.module:flow", "pipeline module 'no_such.module' cannot be imported"),
]
BAD_PARAMETERS = [
    (["name=x", "rows=many"], "parameter rows: expected an integer, got 'many'"),
    (["name=x", "depth=3"], "unknown parameter(s) depth for pipeline flow; it takes name"),
    ([], "missing parameter(s) name for pipeline flow"),
]


def assert_refused(folder: Path, code: int, err: str, message: str) -> None:
    assert code == 1, err
    assert message.format(folder=folder) in err and err.startswith("error: ") and err.count("\n") == 1, err
    runs = folder / "home" / "pipelines"
    assert not runs.exists() or not any(runs.iterdir()), "a run was started"
    assert not (folder / "home" / "mlflow.db").exists()  # no registry was even opened


@pytest.mark.parametrize(("ref", "message"), BAD_REFERENCES)
@pytest.mark.parametrize("command", ["run", "submit", "compile"])
def test_a_bad_pipeline_reference_is_one_line_and_starts_nothing(
    folder: Path, capfd: pytest.CaptureFixture[str], command: str, ref: str, message: str
) -> None:
    assert_refused(folder, *cli(capfd, "pipeline", command, ref), message)


@pytest.mark.parametrize(("params", "message"), BAD_PARAMETERS)
@pytest.mark.parametrize("command", ["run", "submit"])
def test_a_bad_parameter_is_one_line_and_starts_nothing(
    folder: Path, capfd: pytest.CaptureFixture[str], command: str, params: list[str], message: str
) -> None:
    args = [arg for pair in params for arg in ("-p", pair)]
    assert_refused(folder, *cli(capfd, "pipeline", command, "flow.py", *args), message)


def test_compile_writes_a_user_pipeline_to_kfp_ir(folder: Path, capfd: pytest.CaptureFixture[str]) -> None:
    import yaml

    code, err = cli(capfd, "pipeline", "compile", "flow.py:flow")
    assert code == 0 and "wrote flow.yaml" in err, err
    spec = yaml.safe_load((folder / "flow.yaml").read_text())
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {"name", "rows", "share"}
