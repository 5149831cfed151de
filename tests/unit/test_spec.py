"""The ModelDeployment schema: defaults, validation with field paths, and round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubeloop.errors import SpecError
from kubeloop.spec import load_deployment, parse_deployment, parse_duration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def minimal(**spec: object) -> dict[str, object]:
    return {"metadata": {"name": "iris"}, "spec": {"model": {"name": "iris-classifier"}, **spec}}


def test_minimal_spec_gets_the_documented_defaults() -> None:
    deployment = parse_deployment(minimal())
    rollout = deployment.spec.rollout
    assert deployment.name == "iris"
    assert rollout.canary.steps == (10, 25, 50)
    assert rollout.shadow is not None and rollout.shadow.percent == 100
    assert [c.kind for c in rollout.checks] == [
        "error-rate",
        "latency-p99-ratio",
        "disagreement",
        "prediction-shift",
    ]
    assert deployment.spec.model.alias == "champion"


def test_every_example_file_is_a_valid_deployment() -> None:
    # examples/kubeloop.yaml is a project config (its pipelines), tested with the pipeline catalog.
    files = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "kubeloop.yaml")
    assert files, "examples/ holds no ModelDeployment"
    for path in files:
        assert load_deployment(path).spec.model.name


def test_manifest_round_trips_with_camel_case_fields() -> None:
    deployment = parse_deployment(minimal(rollout={"failureLimit": 3, "canary": {"steps": [5, 50]}}))
    manifest = deployment.to_manifest()
    assert manifest["spec"]["rollout"]["failureLimit"] == 3
    assert manifest["apiVersion"] == "kubeloop.io/v1alpha1"
    assert parse_deployment(manifest) == deployment


@pytest.mark.parametrize(
    ("rollout", "field", "reason"),
    [
        ({"canary": {"steps": [10, 5]}}, "spec.rollout.canary.steps", "weights must increase"),
        ({"canary": {"steps": [10, 150]}}, "spec.rollout.canary.steps[1]", "less than or equal to 100"),
        ({"canary": {"interval": "-5s"}}, "spec.rollout.canary.interval", "cannot be negative"),
        (
            {"checks": [{"name": "x", "kind": "bogus", "threshold": 1}]},
            "spec.rollout.checks[0].kind",
            "Input should be",
        ),
        ({"failureLimit": 0}, "spec.rollout.failureLimit", "greater than or equal to 1"),
        ({"shadow": {"percent": 101}}, "spec.rollout.shadow.percent", "less than or equal to 100"),
        ({"checks": [{"name": "q", "kind": "promql", "threshold": 1}]}, "spec.rollout.checks[0]", "query"),
        ({"colour": "blue"}, "spec.rollout.colour", "Extra inputs"),
    ],
)
def test_invalid_rollout_is_refused_with_the_field_named(rollout: dict, field: str, reason: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse_deployment(minimal(rollout=rollout))
    assert f"{field}:" in str(refused.value)
    assert reason in str(refused.value)


def test_bad_name_and_missing_model_are_named() -> None:
    with pytest.raises(SpecError, match=r"metadata\.name"):
        parse_deployment({"metadata": {"name": "Not_Valid"}, "spec": {"model": {"name": "m"}}})
    with pytest.raises(SpecError, match=r"spec\.model: Field required"):
        parse_deployment({"metadata": {"name": "ok"}, "spec": {}})


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1.5h", 5400), (12, 12), ("250ms", 0.25)]
)
def test_durations_parse_to_seconds(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "5 minutes", True, "-1s"])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_load_deployment_reports_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_deployment(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("metadata: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_deployment(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(SpecError, match="expected a ModelDeployment mapping"):
        load_deployment(listed)


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("61 * * * *", r"invalid cron schedule '61 \* \* \* \*': minute field '61' is not valid"),
        ("0 25 * * *", "hour field '25'"),
        ("* * *", "five fields"),
        ("0s", "must be positive"),
        ("soon", "expected a duration"),
    ],
)
def test_a_bad_drift_schedule_is_refused_when_the_spec_loads(schedule: str, reason: str) -> None:
    body = {"model": {"name": "iris"}, "drift": {"schedule": schedule}}
    with pytest.raises(SpecError, match=rf"^invalid ModelDeployment: spec\.drift\.schedule: .*{reason}"):
        parse_deployment({"metadata": {"name": "iris"}, "spec": body})


@pytest.mark.parametrize("schedule", ["15m", "2h", "*/15 * * * *", "0 3 * * 1-5", "0 0 13 * 5"])
def test_good_drift_schedules_load(schedule: str) -> None:
    body = {"model": {"name": "iris"}, "drift": {"schedule": schedule}}
    assert parse_deployment({"metadata": {"name": "iris"}, "spec": body}).spec.drift.schedule == schedule
