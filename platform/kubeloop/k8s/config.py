"""Cluster-wide settings of the operator and the renderer: images, service addresses, gateways.

The operator reads them from environment variables that the Helm chart sets; `kubeloop k8s render`
uses the defaults unless told otherwise. One frozen object, passed to every builder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from kubeloop import __version__

ENV_PREFIX = "KUBELOOP_K8S_"


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    """Where things live in the cluster; every field can be set with KUBELOOP_K8S_<FIELD upper-cased>."""

    runtime_image: str = f"ghcr.io/kubeloop/kubeloop:{__version__}"
    collector_url: str = "http://kubeloop-collector.kubeloop.svc.cluster.local/events"
    tracking_uri: str = "http://kubeloop-mlflow.kubeloop.svc.cluster.local:5000"
    # Where the MLflow runtime finds model artifacts: <model_store_uri>/<model>/<version>.
    model_store_uri: str = "s3://kubeloop-models"
    istio_gateway: str = "kubeloop/kubeloop-gateway"
    gateway_name: str = "kubeloop-gateway"
    gateway_namespace: str = "kubeloop"
    domain: str = "models.example.com"
    drift_service_account: str = "kubeloop-drift"
    drift_engine: str = "cronjob"

    def host(self, *, name: str, namespace: str) -> str:
        """The public host name of a deployment: <name>.<namespace>.<domain>."""
        return f"{name}.{namespace}.{self.domain}"


def config_from_env(env: Mapping[str, str] | None = None) -> ClusterConfig:
    """A ClusterConfig with every KUBELOOP_K8S_* variable applied over the defaults."""
    env = os.environ if env is None else env
    values = {
        field: env[ENV_PREFIX + field.upper()]
        for field in ClusterConfig.__dataclass_fields__
        if env.get(ENV_PREFIX + field.upper())
    }
    return ClusterConfig(**values)
