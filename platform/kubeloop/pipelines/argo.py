"""PipelineRunner on Argo Workflows, for clusters without KFP: the same pipeline in one Workflow step.

The step runs `kubeloop pipeline run <pipeline>` in the kubeloop image, so the pipeline is the same
KFP definition the other runners use, executed by kfp.local inside the pod (no KFP backend needed); a
user's pipeline file travels inside the Workflow as a raw input artifact (a module reference must be
importable in the image). The Workflow records the sha256 of the pipeline's compiled IR so a run can
be matched to its definition.
Argo retries and schedules the whole run; task-level caching and retries stay a KFP feature.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubeloop.errors import BackendUnavailable, NotFoundError
from kubeloop.pipelines.base import PipelineRun, RunState, RunStatus
from kubeloop.pipelines.catalog import PipelineDef, get_pipeline
from kubeloop.pipelines.kfp_api import compile_ir

IR_ANNOTATION = "kubeloop.io/pipeline-ir-sha256"
POD_PIPELINES = "/tmp/kubeloop-pipeline"
OUTCOME_PARAMETER = "outcome"
_PHASES: dict[str, RunState] = {
    "": "pending",
    "Pending": "pending",
    "Running": "running",
    "Succeeded": "succeeded",
    "Failed": "failed",
    "Error": "failed",
}


def ir_digest(pipeline: str) -> str:
    """sha256 of the pipeline's compiled KFP IR."""
    with tempfile.TemporaryDirectory(prefix="kubeloop-ir-") as folder:
        return hashlib.sha256(compile_ir(pipeline, Path(folder)).read_bytes()).hexdigest()


def pod_reference(definition: PipelineDef) -> tuple[str, dict[str, str]]:
    """What the pod runs for a pipeline, and the files (path in the pod -> text) it needs for that."""
    if definition.builtin:
        return definition.name, {}
    if not definition.source.file:
        return definition.source.ref, {}
    path = Path(definition.source.file)
    inside = f"{POD_PIPELINES}/{path.name}"
    function = f":{definition.source.function}" if definition.source.function else ""
    return f"{inside}{function}", {inside: path.read_text()}


def pipeline_workflow(
    pipeline: str,
    params: Mapping[str, Any],
    *,
    namespace: str,
    image: str,
    tracking_uri: str,
    service_account: str,
    digest: str,
    name: str = "",
    files: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Workflow running one pipeline run; its outcome (JSON) is the `outcome` output parameter.

    `files` (path in the pod -> text) are written before the step runs: a user's pipeline file.
    """
    name = re.sub(r"[^a-z0-9-]+", "-", (name or pipeline).lower()).strip("-")[:40] or "pipeline"
    args = ["pipeline", "run", pipeline, "--json"]
    for key, value in sorted(params.items()):
        args += ["--param", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    script = f"kubeloop {' '.join(_quote(a) for a in args)} > /tmp/outcome.json"
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "generateName": f"{name}-",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "kubeloop", "kubeloop.io/pipeline": name},
            "annotations": {IR_ANNOTATION: digest},
        },
        "spec": {
            "entrypoint": "run",
            "serviceAccountName": service_account,
            "retryStrategy": {"limit": "1", "retryPolicy": "OnError"},
            "templates": [
                {
                    "name": "run",
                    "container": {
                        "image": image,
                        "command": ["sh", "-c", script],
                        "env": [{"name": "KUBELOOP_TRACKING_URI", "value": tracking_uri}],
                    },
                    **_inputs(files or {}),
                    "outputs": {
                        "parameters": [
                            {"name": OUTCOME_PARAMETER, "valueFrom": {"path": "/tmp/outcome.json"}}
                        ]
                    },
                }
            ],
        },
    }


def _inputs(files: Mapping[str, str]) -> dict[str, Any]:
    """Raw input artifacts: Argo writes each file's text at its path before the container starts."""
    if not files:
        return {}
    artifacts = [
        {"name": f"file-{index}", "path": path, "raw": {"data": text}}
        for index, (path, text) in enumerate(sorted(files.items()))
    ]
    return {"inputs": {"artifacts": artifacts}}


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


class ArgoPipelineRunner:
    """Submits kubeloop pipelines as Argo Workflows through the `argo_workflows` client."""

    def __init__(
        self,
        *,
        api: Any,
        namespace: str,
        image: str,
        tracking_uri: str,
        service_account: str = "kubeloop-pipeline",
        poll: float = 5.0,
        digest: Callable[[str], str] = ir_digest,
    ) -> None:
        self.api, self.namespace, self.image = api, namespace, image
        self.tracking_uri, self.service_account, self.poll, self.digest = (
            tracking_uri,
            service_account,
            poll,
            digest,
        )

    @classmethod
    def connect(
        cls, *, host: str, namespace: str, image: str, tracking_uri: str, **kwargs: Any
    ) -> ArgoPipelineRunner:
        """A runner on the Argo server at `host` (for example https://argo-server.argo:2746)."""
        import argo_workflows
        from argo_workflows.api.workflow_service_api import WorkflowServiceApi

        client = argo_workflows.ApiClient(argo_workflows.Configuration(host=host))
        return cls(
            api=WorkflowServiceApi(client),
            namespace=namespace,
            image=image,
            tracking_uri=tracking_uri,
            **kwargs,
        )

    def submit(self, pipeline: str, params: Mapping[str, Any]) -> PipelineRun:
        """Check the parameters, create the Workflow; its generated name is the run id (and label)."""
        from argo_workflows import model_utils
        from argo_workflows.model.io_argoproj_workflow_v1alpha1_workflow_create_request import (
            IoArgoprojWorkflowV1alpha1WorkflowCreateRequest as CreateRequest,
        )

        definition = get_pipeline(pipeline)
        definition.bound(params)  # refuse unknown, missing or mistyped parameters before submitting
        reference, files = pod_reference(definition)
        workflow = pipeline_workflow(
            reference,
            params,
            namespace=self.namespace,
            image=self.image,
            tracking_uri=self.tracking_uri,
            service_account=self.service_account,
            digest=self.digest(pipeline),
            name=definition.name,
            files=files,
        )
        body = model_utils.validate_and_convert_types(
            {"workflow": workflow}, (CreateRequest,), ["body"], True, True, self.api.api_client.configuration
        )
        try:
            created = json.loads(self.api.create_workflow(self.namespace, body, _preload_content=False).data)
        except Exception as error:  # noqa: BLE001 - argo_workflows raises its own ApiException
            raise BackendUnavailable(f"Argo refused the workflow: {_short(error)}") from None
        return PipelineRun(run_id=created["metadata"]["name"], pipeline=pipeline, params=dict(params))

    def status(self, run: PipelineRun) -> RunStatus:
        """The Workflow's phase; the outcome parameter once it succeeded."""
        try:
            found = json.loads(self.api.get_workflow(self.namespace, run.run_id, _preload_content=False).data)
        except Exception as error:  # noqa: BLE001
            if getattr(error, "status", None) == 404:
                raise NotFoundError(f"Argo has no workflow {run.run_id!r} in {self.namespace}") from None
            raise BackendUnavailable(f"Argo: {_short(error)}") from None
        status = found.get("status") or {}
        state = _PHASES.get(str(status.get("phase", "")), "running")
        return RunStatus(
            state=state,
            message=str(status.get("message", "")),
            outputs=_outcome(status) if state == "succeeded" else {},
        )

    def wait(self, run: PipelineRun, *, timeout: float) -> RunStatus:
        """Poll until the Workflow finishes or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(run)
            if status.finished or time.monotonic() >= deadline:
                return status
            time.sleep(min(self.poll, max(0.0, deadline - time.monotonic())))


def _outcome(status: Mapping[str, Any]) -> dict[str, Any]:
    for node in (status.get("nodes") or {}).values():
        for parameter in (node.get("outputs") or {}).get("parameters", []):
            if parameter.get("name") == OUTCOME_PARAMETER and parameter.get("value"):
                return dict(json.loads(parameter["value"]))
    return {}


def _short(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
