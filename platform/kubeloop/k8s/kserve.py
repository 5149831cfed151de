"""KServe InferenceService for a model version, built with the kserve SDK's model classes.

The runtime is either kubeloop's slim model-server image (runtimes `kserve` and `bentoml`: the
container runs the runtime's server, which loads `models:/<model>/<version>` from the tracking
server) or KServe's MLflow runtime reading the model from `storageUri`. Every predictor logs
requests and responses to the kubeloop collector and is scraped by Prometheus.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.meta import object_meta
from kubeloop.spec import ModelDeployment

API_VERSION = "serving.kserve.io/v1beta1"
GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
STABLE_ANNOTATION = "kubeloop.io/stable-version"
VERSION_ANNOTATION = "kubeloop.io/version"
# KServe splits traffic between revisions only in Serverless mode; meshes route to plain Services.
SERVERLESS, RAW = "Serverless", "RawDeployment"
METRICS_PORT = 8080
# What starts each kubeloop runtime (serving/Dockerfile's entrypoint runs the same).
KSERVE_MODULE = "kubeloop.serving.kserve_runtime"
BENTO_SERVICE = "kubeloop.serving.bentoml_runtime.service:KubeloopService"


def logger_url(
    config: ClusterConfig,
    deployment: ModelDeployment,
    *,
    version: str,
    role: str,
    mirror: str | None = None,
    mirror_percent: int = 0,
    mirror_version: str | None = None,
) -> str:
    """The collector URL with who is logging; a mirror target makes the collector replay requests to it."""
    query = {
        "deployment": deployment.name,
        "model": deployment.spec.model.name,
        "version": version,
        "role": role,
    }
    if mirror and mirror_percent:
        query |= {
            "mirror": mirror,
            "mirrorPercent": str(mirror_percent),
            "shadowVersion": mirror_version or "",
        }
    return f"{config.collector_url}?{urlencode(query)}"


def server_command(
    deployment: ModelDeployment, *, config: ClusterConfig, version: str
) -> tuple[list[str], dict[str, str]]:
    """The command and environment that start one version under kubeloop's KServe or BentoML runtime."""
    from kubeloop.serving.core.runtime import RuntimeConfig

    serving = deployment.spec.serving
    runtime = RuntimeConfig(
        deployment=deployment.name,
        model=deployment.spec.model.name,
        ref=version,
        host="0.0.0.0",  # noqa: S104 - a pod's server must answer on the pod IP
        port=METRICS_PORT,
        workers=serving.workers,
        max_batch_rows=serving.max_batch_size,
        # KServe's request logger already sends every request and response to the collector.
        log_to_store=False,
    )
    env = {"KUBELOOP_TRACKING_URI": config.tracking_uri, **runtime.to_env()}
    if serving.runtime == "bentoml":
        return (
            ["bentoml", "serve", BENTO_SERVICE, "--host", runtime.host, "--port", str(runtime.port)],
            env,
        )
    flags = {
        "--deployment": runtime.deployment,
        "--model": runtime.model,
        "--ref": runtime.ref,
        "--host": runtime.host,
        "--port": str(runtime.port),
        "--workers": str(runtime.workers),
        "--max-batch-rows": str(runtime.max_batch_rows),
    }
    command = ["python", "-m", KSERVE_MODULE, *(part for flag in flags.items() for part in flag)]
    return [*command, "--no-log-to-store"], env


def _runtime_model(deployment: ModelDeployment, *, config: ClusterConfig, version: str) -> dict:
    from kserve import V1beta1ModelFormat, V1beta1ModelSpec
    from kubernetes.client import V1Container, V1ContainerPort, V1EnvVar, V1ResourceRequirements

    serving = deployment.spec.serving
    resources = V1ResourceRequirements(
        requests=dict(serving.resources.requests), limits=dict(serving.resources.limits)
    )
    if serving.runtime == "mlflow":
        model = V1beta1ModelSpec(
            model_format=V1beta1ModelFormat(name="mlflow"),
            protocol_version="v2",
            storage_uri=f"{config.model_store_uri}/{deployment.spec.model.name}/{version}",
            resources=resources,
        )
        return {"model": model}
    command, env = server_command(deployment, config=config, version=version)
    container = V1Container(
        name="kserve-container",
        image=config.model_server_image(serving.runtime),
        command=command,
        env=[V1EnvVar(name=k, value=v) for k, v in env.items()],
        ports=[V1ContainerPort(container_port=METRICS_PORT, protocol="TCP")],
        resources=resources,
    )
    return {"containers": [container]}


def predictor(
    deployment: ModelDeployment,
    *,
    config: ClusterConfig,
    version: str,
    role: str,
    canary_percent: int | None = None,
    mirror: str | None = None,
    mirror_percent: int = 0,
    mirror_version: str | None = None,
    log_requests: bool = True,
) -> dict[str, Any]:
    """The `spec.predictor` of an InferenceService serving `version` (wire form, camelCase)."""
    from kserve import V1beta1LoggerSpec, V1beta1PredictorSpec
    from kubernetes.client import ApiClient

    autoscaling = deployment.spec.serving.autoscaling
    spec = V1beta1PredictorSpec(
        min_replicas=autoscaling.min_replicas,
        max_replicas=autoscaling.max_replicas,
        canary_traffic_percent=canary_percent,
        logger=None
        if not log_requests
        else V1beta1LoggerSpec(
            mode="all",
            url=logger_url(
                config,
                deployment,
                version=version,
                role=role,
                mirror=mirror,
                mirror_percent=mirror_percent,
                mirror_version=mirror_version,
            ),
        ),
        annotations={
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(METRICS_PORT),
            "prometheus.io/path": "/metrics",
        },
        labels={VERSION_ANNOTATION: version},
        **_runtime_model(deployment, config=config, version=version),
    )
    return ApiClient().sanitize_for_serialization(spec)


def inference_service(
    deployment: ModelDeployment,
    *,
    config: ClusterConfig,
    name: str,
    version: str,
    role: str,
    mode: str = SERVERLESS,
    canary_percent: int | None = None,
    stable_version: str | None = None,
    mirror: str | None = None,
    mirror_percent: int = 0,
    mirror_version: str | None = None,
    log_requests: bool = True,
    owner_uid: str | None = None,
) -> dict[str, Any]:
    """A whole InferenceService; `stable_version` is recorded so a router can read its routes back."""
    from kserve import V1beta1InferenceService, V1beta1InferenceServiceSpec
    from kubernetes.client import ApiClient

    meta = object_meta(deployment, name=name, owner_uid=owner_uid, version=version, role=role)
    meta["annotations"] = {
        "serving.kserve.io/deploymentMode": mode,
        "serving.kserve.io/enable-prometheus-scraping": "true",
        STABLE_ANNOTATION: stable_version or version,
    }
    isvc = V1beta1InferenceService(
        api_version=API_VERSION,
        kind="InferenceService",
        metadata=meta,
        spec=V1beta1InferenceServiceSpec(
            predictor=predictor(
                deployment,
                config=config,
                version=version,
                role=role,
                canary_percent=canary_percent,
                mirror=mirror,
                mirror_percent=mirror_percent,
                mirror_version=mirror_version,
                log_requests=log_requests,
            )
        ),
    )
    return ApiClient().sanitize_for_serialization(isvc)
