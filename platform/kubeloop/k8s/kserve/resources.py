"""InferenceServices and predictors for a model version, built with the kserve SDK's model classes.

The runtime is either kubeloop's slim model-server image (runtimes `kserve` and `bentoml`: the
container runs the runtime's server, which loads `models:/<model>/<version>` from the tracking
server) or KServe's MLflow runtime reading the model from `storageUri`. Every predictor logs
requests and responses to the kubeloop collector and is scraped by Prometheus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.kserve.modes import MODE_ANNOTATION
from kubeloop.k8s.meta import object_meta, predictor_host
from kubeloop.labels.serving import policy_json
from kubeloop.spec import ModelDeployment

API_VERSION = "serving.kserve.io/v1beta1"
GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
STABLE_ANNOTATION = "kubeloop.io/stable-version"
VERSION_LABEL = "kubeloop.io/version"
# Meshes route to each version's plain Service, so those InferenceServices run in Standard mode.
RAW = "RawDeployment"
METRICS_PORT = 8080
# What starts each kubeloop runtime (serving/Dockerfile's entrypoint runs the same).
KSERVE_MODULE = "kubeloop.serving.kserve_runtime"
BENTO_SERVICE = "kubeloop.serving.bentoml_runtime.service:KubeloopService"


@dataclass(frozen=True, kw_only=True)
class Mirror:
    """A shadow the collector replays logged requests to: its predict URL, the percent and its version."""

    url: str
    percent: int
    version: str


@dataclass(frozen=True, kw_only=True)
class Replicas:
    """Replica bounds of a predictor; a Standard-mode canary has fixed ones (None: KServe derives them)."""

    min: int | None
    max: int | None


def autoscaled(deployment: ModelDeployment) -> Replicas:
    """The deployment's own replica bounds."""
    autoscaling = deployment.spec.serving.autoscaling
    return Replicas(min=autoscaling.min_replicas, max=autoscaling.max_replicas)


def shadow_isvc_name(deployment: ModelDeployment) -> str:
    """With the KServe router the shadow runs beside the main InferenceService under this name."""
    return f"{deployment.name}-shadow"


def mirror_to_shadow(deployment: ModelDeployment, *, percent: int, version: str) -> Mirror:
    """The mirror of a shadow InferenceService: its predictor's predict endpoint."""
    isvc = shadow_isvc_name(deployment)
    host = predictor_host(isvc=isvc, namespace=deployment.metadata.namespace)
    if deployment.spec.serving.runtime == "mlflow":
        return Mirror(url=f"http://{host}/v2/models/{isvc}/infer", percent=percent, version=version)
    return Mirror(url=f"http://{host}/v1/models/{isvc}:predict", percent=percent, version=version)


def logger_url(
    config: ClusterConfig,
    deployment: ModelDeployment,
    *,
    version: str,
    role: str,
    mirror: Mirror | None = None,
) -> str:
    """The collector URL with who is logging; a mirror makes the collector replay requests to it."""
    query = {
        "deployment": deployment.name,
        "model": deployment.spec.model.name,
        "version": version,
        "role": role,
    }
    if mirror is not None and mirror.percent:
        query |= {"mirror": mirror.url, "mirrorPercent": str(mirror.percent), "shadowVersion": mirror.version}
    if deployment.spec.labeling.policy != "none":  # the collector records each row's inclusion probability
        query["labeling"] = policy_json(deployment.spec.labeling)
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
        host="0.0.0.0",  # a pod's server must answer on the pod IP
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


def _runtime_model(deployment: ModelDeployment, *, config: ClusterConfig, version: str) -> dict[str, Any]:
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
    mirror: Mirror | None = None,
    log_requests: bool = True,
    name: str | None = None,
    replicas: Replicas | None = None,
) -> dict[str, Any]:
    """The `spec.predictor` of an InferenceService serving `version` (wire form, camelCase)."""
    from kserve import V1beta1LoggerSpec, V1beta1PredictorSpec
    from kubernetes.client import ApiClient

    bounds = replicas or autoscaled(deployment)
    url = logger_url(config, deployment, version=version, role=role, mirror=mirror)
    spec = V1beta1PredictorSpec(
        name=name,
        min_replicas=bounds.min,
        max_replicas=bounds.max,
        canary_traffic_percent=canary_percent,
        logger=V1beta1LoggerSpec(mode="all", url=url) if log_requests else None,
        annotations={
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(METRICS_PORT),
            "prometheus.io/path": "/metrics",
        },
        labels={VERSION_LABEL: version},
        **_runtime_model(deployment, config=config, version=version),
    )
    return cast(dict[str, Any], ApiClient().sanitize_for_serialization(spec))


def inference_service(
    deployment: ModelDeployment,
    *,
    config: ClusterConfig,
    name: str,
    version: str,
    role: str,
    spec: dict[str, Any],
    mode: str,
    stable_version: str | None = None,
    owner_uid: str | None = None,
) -> dict[str, Any]:
    """A whole InferenceService around a built `spec`; `stable_version` lets a router read routes back."""
    meta = object_meta(deployment, name=name, owner_uid=owner_uid, version=version, role=role)
    meta["annotations"] = {
        MODE_ANNOTATION: mode,
        "serving.kserve.io/enable-prometheus-scraping": "true",
        STABLE_ANNOTATION: stable_version or version,
    }
    return {"apiVersion": API_VERSION, "kind": "InferenceService", "metadata": meta, "spec": spec}


def version_isvc(
    deployment: ModelDeployment,
    *,
    config: ClusterConfig,
    name: str,
    version: str,
    role: str,
    mode: str = RAW,
    log_requests: bool = True,
    owner_uid: str | None = None,
) -> dict[str, Any]:
    """An InferenceService serving one version alone (a mesh's per-version server, or a shadow)."""
    built = predictor(deployment, config=config, version=version, role=role, log_requests=log_requests)
    return inference_service(
        deployment,
        config=config,
        name=name,
        version=version,
        role=role,
        spec={"predictor": built},
        mode=mode,
        owner_uid=owner_uid,
    )
