"""The drift job of a deployment, as a Kubernetes CronJob or an Argo CronWorkflow, from its drift policy."""

from __future__ import annotations

import json
import re
from typing import Any

from kubeloop.errors import SpecError
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.meta import object_meta
from kubeloop.spec import ModelDeployment, parse_duration

CRON_API_VERSION = "argoproj.io/v1alpha1"
ARGO_GROUP, ARGO_VERSION, CRON_WORKFLOW_PLURAL = "argoproj.io", "v1alpha1", "cronworkflows"
_CRON_FIELD = r"[\d*/,-]+"
_CRON = re.compile(rf"^{_CRON_FIELD}( {_CRON_FIELD}){{4}}$")
# The job reads prediction logs from $KUBELOOP_HOME/predictions (the collector's claim, read-only) and
# keeps its own state under $KUBELOOP_HOME, so the home is a small writable emptyDir.
HOME = "/var/lib/kubeloop"
UID = 10001
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": UID,
    "fsGroup": UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": UID,
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def cron_schedule(schedule: str) -> str:
    """A cron expression from the policy's schedule: cron as is, or an interval such as '15m', '2h', '1d'."""
    text = schedule.strip()
    if _CRON.match(text):
        return text
    try:
        minutes = parse_duration(text) / 60
    except ValueError as error:
        raise SpecError(f"spec.drift.schedule: {error}") from None
    if minutes.is_integer() and 1 <= minutes < 60 and 60 % minutes == 0:
        return f"*/{int(minutes)} * * * *"
    hours = minutes / 60
    if hours.is_integer() and 1 <= hours < 24 and 24 % hours == 0:
        return "0 * * * *" if hours == 1 else f"0 */{int(hours)} * * *"
    if hours == 24:
        return "0 0 * * *"
    raise SpecError(
        f"spec.drift.schedule: {schedule!r} does not divide an hour or a day; give a cron expression"
    )


def _job_name(deployment: ModelDeployment) -> str:
    # CronJob names are limited to 52 characters (the controller appends an 11-character suffix).
    name = f"{deployment.name}-drift"
    if len(name) > 52:
        raise SpecError(
            f"metadata.name: {deployment.name!r} is too long for its drift CronJob (46 characters at most)"
        )
    return name


def _container(deployment: ModelDeployment, config: ClusterConfig) -> dict[str, Any]:
    return {
        "name": "drift",
        "image": config.platform_image,
        # The spec travels in the environment, so the job never needs API access to its ModelDeployment.
        "command": [
            "sh",
            "-c",
            'printf "%s" "$KUBELOOP_DEPLOYMENT_MANIFEST" > /tmp/deployment.json && '
            f"exec kubeloop drift check {deployment.name} --file /tmp/deployment.json --json",
        ],
        "env": [
            {"name": "KUBELOOP_TRACKING_URI", "value": config.tracking_uri},
            {"name": "KUBELOOP_HOME", "value": HOME},
            # MLflow and pandas write caches under $HOME; /tmp is the writable emptyDir.
            {"name": "HOME", "value": "/tmp"},
            {
                "name": "KUBELOOP_DEPLOYMENT_MANIFEST",
                "value": json.dumps(deployment.to_manifest(), sort_keys=True),
            },
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "home", "mountPath": HOME},
            {"name": "predictions", "mountPath": f"{HOME}/predictions", "readOnly": True},
        ],
    }


def _volumes(config: ClusterConfig) -> list[dict[str, Any]]:
    return [
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "home", "emptyDir": {"sizeLimit": "64Mi"}},
        {
            "name": "predictions",
            "persistentVolumeClaim": {"claimName": config.prediction_log_claim, "readOnly": True},
        },
    ]


def drift_cronjob(
    deployment: ModelDeployment, *, config: ClusterConfig, owner_uid: str | None = None
) -> dict[str, Any]:
    """A batch/v1 CronJob running `kubeloop drift check` on the policy's schedule."""
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta(deployment, name=_job_name(deployment), owner_uid=owner_uid),
        "spec": {
            "schedule": cron_schedule(deployment.spec.drift.schedule),
            "concurrencyPolicy": "Forbid",
            "suspend": not deployment.spec.drift.enabled,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 1,
                    "template": {
                        "metadata": {"labels": object_meta(deployment, name=deployment.name)["labels"]},
                        "spec": {
                            "serviceAccountName": config.drift_service_account,
                            "automountServiceAccountToken": False,
                            "restartPolicy": "Never",
                            "securityContext": POD_SECURITY,
                            "containers": [_container(deployment, config)],
                            "volumes": _volumes(config),
                        },
                    },
                }
            },
        },
    }


def drift_cron_workflow(
    deployment: ModelDeployment, *, config: ClusterConfig, owner_uid: str | None = None
) -> dict[str, Any]:
    """The same job as an Argo CronWorkflow, for clusters that schedule with Argo."""
    return {
        "apiVersion": CRON_API_VERSION,
        "kind": "CronWorkflow",
        "metadata": object_meta(deployment, name=_job_name(deployment), owner_uid=owner_uid),
        "spec": {
            "schedules": [cron_schedule(deployment.spec.drift.schedule)],
            "concurrencyPolicy": "Forbid",
            "suspend": not deployment.spec.drift.enabled,
            "workflowSpec": {
                "entrypoint": "drift",
                "serviceAccountName": config.drift_service_account,
                "securityContext": POD_SECURITY,
                "volumes": _volumes(config),
                "templates": [{"name": "drift", "container": _container(deployment, config)}],
            },
        },
    }
