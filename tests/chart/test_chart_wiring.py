"""The chart hands each program the settings and flags that program actually reads."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from typing import Any

import pytest

from kubeloop.k8s.config import ENV_PREFIX, ClusterConfig, config_from_env
from kubeloop.settings import PROMETHEUS_ENV, TRACKING_ENV, load_settings

pytestmark = pytest.mark.k8s

Objects = dict[str, list[dict[str, Any]]]


def _operator_env(objects: list[dict[str, Any]]) -> dict[str, str]:
    (cm,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-operator")]
    return cm["data"]


@pytest.mark.parametrize("scenario", ["default", "production", "gateway-api"])
def test_operator_environment_is_what_the_operator_reads(rendered: Objects, scenario: str) -> None:
    env = _operator_env(rendered[scenario])
    known = {ENV_PREFIX + f.name.upper() for f in fields(ClusterConfig)}
    ours = {key for key in env if key.startswith(ENV_PREFIX)}
    assert ours <= known, f"the operator does not read {ours - known}"
    config = config_from_env(env)
    assert config.runtime_image.startswith("ghcr.io/kubeloop/kubeloop:")
    assert config.collector_url.endswith("/events")
    settings = load_settings(env)
    assert settings.prometheus_url and env[TRACKING_ENV].startswith("http://")
    assert PROMETHEUS_ENV in env


def test_drift_jobs_account_exists_where_jobs_run(rendered: Objects) -> None:
    accounts = [o for o in rendered["production"] if o["kind"] == "ServiceAccount"
                and o["metadata"]["name"] == "kubeloop-drift"]
    assert sorted(a["metadata"]["namespace"] for a in accounts) == ["kubeloop", "ml-prod"]
    assert all(a["automountServiceAccountToken"] is False for a in accounts)


@pytest.mark.parametrize("component", ["gateway", "collector"])
def test_flags_are_accepted_by_the_program(rendered: Objects, component: str) -> None:
    (deployment,) = [o for o in rendered["default"] if o["kind"] == "Deployment"
                     and o["metadata"]["name"].endswith(f"-{component}")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    module = f"kubeloop.serving.{component}"
    assert container["command"] == ["python", "-m", module]
    usage = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                           text=True, timeout=60, check=True).stdout
    for arg in container["args"]:
        assert arg.split("=")[0] in usage, f"{module} has no flag {arg}"
