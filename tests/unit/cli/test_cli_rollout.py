"""`kubeloop rollout` without servers: strategy validation, status, history and report from a state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeloop.analysis.results import CheckResult, Verdict
from kubeloop.cli import main
from kubeloop.rollout.engine import decide
from kubeloop.rollout.file_store import FileStateStore
from kubeloop.rollout.plan import apply
from kubeloop.rollout.state import initial_state
from kubeloop.settings import Settings
from kubeloop.spec import RolloutSpec


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main([*args])
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.mark.parametrize(
    ("strategy", "field"),
    [
        ("canary: {steps: [10, 50, 25]}", "rollout.canary.steps: weights must increase strictly"),
        ("canary: {steps: [10, 150]}", "rollout.canary.steps[1]: Input should be less than or equal to 100"),
        ("checks: [{name: x, kind: accuracy, threshold: 1}]", "rollout.checks[0].kind: Input should be"),
        ("canary: {interval: -5s}", "rollout.canary.interval: a duration cannot be negative"),
        ("shadow: {duration: -1}", "rollout.shadow.duration: a duration cannot be negative"),
        ("failureLimit: 0", "rollout.failureLimit: Input should be greater than or equal to 1"),
        (
            "checks: [{name: q, kind: promql, threshold: 1}]",
            "rollout.checks[0]: a promql check needs a query",
        ),
    ],
)
def test_invalid_strategy_is_refused_with_the_field_named(
    capsys: pytest.CaptureFixture[str], settings: Settings, tmp_path: Path, strategy: str, field: str
) -> None:
    path = tmp_path / "strategy.yaml"
    path.write_text(strategy)
    code, _, err = cli(capsys, "rollout", "start", "iris", "--version", "2", "--strategy", str(path))
    assert code == 1 and field in err and "Traceback" not in err
    assert not (settings.state_dir / "rollouts" / "iris.json").exists()


def test_a_missing_strategy_file_is_named(capsys: pytest.CaptureFixture[str], settings: Settings) -> None:
    code, _, err = cli(capsys, "rollout", "start", "iris", "--version", "2", "--strategy", "nope.yaml")
    assert code == 1 and "nope.yaml: no such file" in err


def test_status_of_a_deployment_without_rollout_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    code, _, err = cli(capsys, "rollout", "status", "iris")
    assert code == 1 and "deployment 'iris' has no rollout" in err


@pytest.fixture
def finished(settings: Settings) -> FileStateStore:
    """A promoted rollout's state file, as the controller leaves it."""
    spec = RolloutSpec.model_validate({"shadow": {"duration": 0, "minSamples": 1}, "canary": {"interval": 1}})
    state = initial_state(
        deployment="iris", model="iris-clf", champion="1", challenger="2", spec=spec, now=100.0
    )
    now = 100.0
    while not state.phase.terminal:
        now += 1
        checks = [
            CheckResult(
                name=c.name,
                kind=c.kind,
                verdict=Verdict.PASS,
                value=0.001,
                threshold=c.threshold,
                samples=500,
            )
            for c in spec.checks
        ]
        state = apply(state, decide(spec, state, checks, now=now), now=now)
    store = FileStateStore(settings.state_dir)
    store.save(state.evolve(pending=()))
    return store


def test_status_and_history_as_json(capsys: pytest.CaptureFixture[str], finished: FileStateStore) -> None:
    code, out, _ = cli(capsys, "rollout", "status", "iris", "--json")
    status = json.loads(out)
    assert code == 0 and status["phase"] == "promoted" and status["weight"] == 100
    assert {c["name"] for c in status["checks"]} >= {"error-rate", "latency-p99"}
    code, out, _ = cli(capsys, "rollout", "history", "iris", "--json")
    (rollout,) = json.loads(out)
    assert [e["kind"] for e in rollout["history"]] == ["advance", "advance", "advance", "promote"]


def test_status_table_shows_checks_with_thresholds(
    capsys: pytest.CaptureFixture[str], finished: FileStateStore
) -> None:
    code, out, err = cli(capsys, "rollout", "status", "iris")
    assert code == 0 and "promoted" in err and "error-rate" in out and "0.01" in out


@pytest.mark.parametrize("suffix", [".png", ".html"])
def test_report_is_written(
    capsys: pytest.CaptureFixture[str], finished: FileStateStore, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"report{suffix}"
    code, _, _ = cli(capsys, "rollout", "report", "iris", "-o", str(path))
    data = path.read_bytes()
    assert code == 0 and (data.startswith(b"\x89PNG") if suffix == ".png" else b"<img" in data)
    if suffix == ".html":
        assert b"promote" in data and b"data:image/png;base64," in data


def test_report_refuses_other_formats(capsys: pytest.CaptureFixture[str], finished: FileStateStore) -> None:
    code, _, err = cli(capsys, "rollout", "report", "iris", "-o", "report.pdf")
    assert code == 1 and ".html or .png" in err


@pytest.mark.parametrize(
    ("phase", "code"), [("promoted", 0), ("rolled-back", 3), ("aborted", 4), ("canary", 1)]
)
def test_a_controller_run_here_exits_with_the_rollouts_outcome(
    capsys: pytest.CaptureFixture[str], settings: Settings, monkeypatch: pytest.MonkeyPatch, phase: str,
    code: int,
) -> None:
    import signal
    from contextlib import contextmanager
    from types import SimpleNamespace

    from kubeloop.controller import local
    from kubeloop.rollout.state import Phase

    class Ended:
        def run(self, deployment: str, *, stop: object) -> object:
            return SimpleNamespace(phase=Phase(phase), history=[])

    @contextmanager
    def running(*_: object, **__: object):  # type: ignore[no-untyped-def]
        yield Ended()

    monkeypatch.setattr(local, "running_controller", running)
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert cli(capsys, "rollout", "run", "iris")[0] == code
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
