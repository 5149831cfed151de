"""Cluster-wide settings of the operator and the renderer: images, service addresses, gateways.

The operator reads them from environment variables that the Helm chart sets; `kubeloop k8s render`
uses the defaults unless told otherwise. One frozen object, passed to every builder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from kubeloop import __version__
from kubeloop.errors import KubeloopError

ENV_PREFIX = "KUBELOOP_K8S_"


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    """Where things live in the cluster; every field can be set with KUBELOOP_K8S_<FIELD upper-cased>."""

    # The platform image (the kubeloop CLI and every dependency) runs the drift jobs.
    platform_image: str = f"ghcr.io/kubeloop/kubeloop:{__version__}"
    # Slim model-server images built from serving/Dockerfile, one per runtime (RUNTIME=kserve|bentoml).
    serving_image: str = f"ghcr.io/kubeloop/kubeloop-serving:{__version__}"
    bento_image: str = f"ghcr.io/kubeloop/kubeloop-bento:{__version__}"
    collector_url: str = "http://kubeloop-collector.kubeloop.svc.cluster.local/events"
    tracking_uri: str = "http://kubeloop-mlflow.kubeloop.svc.cluster.local:5000"
    # Where the MLflow runtime finds model artifacts: <model_store_uri>/<model>/<version>.
    model_store_uri: str = "s3://kubeloop-models"
    istio_gateway: str = "kubeloop/kubeloop-gateway"
    gateway_name: str = "kubeloop-gateway"
    gateway_namespace: str = "kubeloop"
    domain: str = "models.example.com"
    drift_service_account: str = "kubeloop-drift"
    # Where KServe keeps its `inferenceservice-config` ConfigMap (read for the default deployment mode).
    kserve_namespace: str = "kserve"
    drift_engine: str = "cronjob"
    # The collector's prediction-log claim, mounted read-only by drift jobs under $KUBELOOP_HOME/predictions.
    prediction_log_claim: str = "kubeloop-collector"
    # The operator's own endpoints; the chart scrapes and probes the same ports.
    operator_metrics_port: int = 9090
    operator_health_port: int = 8080
    # Where both endpoints listen: every interface in a pod, 127.0.0.1 for an operator run on a workstation.
    operator_bind_address: str = "0.0.0.0"
    # How often every ModelDeployment is reconciled besides its changes (analyses fall due between them).
    operator_tick_seconds: float = 10.0
    # How long one Kubernetes API request may take to connect, and then to answer: a stalled API server
    # fails that reconcile (kopf retries it a tick later) instead of holding the object's lock forever.
    operator_request_timeout_seconds: float = 30.0

    def model_server_image(self, runtime: str) -> str:
        """The image of a kubeloop model-server runtime (`kserve` or `bentoml`)."""
        return self.bento_image if runtime == "bentoml" else self.serving_image

    def host(self, *, name: str, namespace: str) -> str:
        """The public host name of a deployment: <name>.<namespace>.<domain>."""
        return f"{name}.{namespace}.{self.domain}"


def config_from_env(env: Mapping[str, str] | None = None) -> ClusterConfig:
    """A ClusterConfig with every KUBELOOP_K8S_* variable applied over the defaults."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for field in fields(ClusterConfig):
        key = ENV_PREFIX + field.name.upper()
        if not env.get(key):
            continue
        numeric = field.type in ("int", "float")
        values[field.name] = _number(key, env[key], kind=str(field.type)) if numeric else env[key]
    return ClusterConfig(**values)


def _number(key: str, text: str, *, kind: str) -> int | float:
    """An int or float setting; a port or an interval is never zero or negative."""
    try:
        value: int | float = int(text) if kind == "int" else float(text)
    except ValueError:
        what = "an integer" if kind == "int" else "a number"
        raise KubeloopError(f"{key} must be {what}, got {text!r}") from None
    if value <= 0:
        raise KubeloopError(f"{key} must be positive, got {text!r}")
    return value
