"""The drift job's pod: locked down like the chart's pods, reading the collector's logs read-only."""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.k8s import jobs
from kubeloop.k8s.config import ClusterConfig
from kubeloop.settings import load_settings
from kubeloop.spec import parse_deployment

CONFIG = ClusterConfig(prediction_log_claim="release-kubeloop-collector",
                       platform_image="registry/kubeloop:2")


def _deployment() -> Any:
    return parse_deployment({
        "metadata": {"name": "iris", "namespace": "models"},
        "spec": {"model": {"name": "iris-classifier"}, "router": "kserve"},
    })


def _pod(engine: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(pod-level settings, the container, the volumes) of the CronJob or the CronWorkflow."""
    if engine == "cronjob":
        cronjob = jobs.drift_cronjob(_deployment(), config=CONFIG)
        pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        return pod, container, pod["volumes"]
    spec = jobs.drift_cron_workflow(_deployment(), config=CONFIG)["spec"]["workflowSpec"]
    (template,) = spec["templates"]
    return spec, template["container"], spec["volumes"]


@pytest.mark.parametrize("engine", ["cronjob", "argo"])
def test_drift_pod_is_non_root_read_only_and_without_capabilities(engine: str) -> None:
    pod, container, _ = _pod(engine)
    assert pod["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False and security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["image"] == "registry/kubeloop:2"


@pytest.mark.parametrize("engine", ["cronjob", "argo"])
def test_drift_pod_reads_prediction_logs_from_the_collector_claim(engine: str) -> None:
    _, container, volumes = _pod(engine)
    env = {e["name"]: e["value"] for e in container["env"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    by_name = {v["name"]: v for v in volumes}
    logs_dir = str(load_settings({"KUBELOOP_HOME": env["KUBELOOP_HOME"]}).logs_dir)
    logs = mounts[logs_dir]
    assert logs["readOnly"] is True
    assert by_name[logs["name"]]["persistentVolumeClaim"] == {
        "claimName": "release-kubeloop-collector", "readOnly": True,
    }
    # The job writes its deployment file to /tmp and its state under $KUBELOOP_HOME: both writable.
    for writable in ("/tmp", env["KUBELOOP_HOME"]):
        assert "emptyDir" in by_name[mounts[writable]["name"]] and not mounts[writable].get("readOnly")
    assert "/tmp/deployment.json" in container["command"][-1]


def test_cronjob_pod_mounts_no_api_token() -> None:
    pod, _, _ = _pod("cronjob")
    assert pod["automountServiceAccountToken"] is False
