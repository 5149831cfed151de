"""Starting and stopping what the demo runs: the MLflow UI, the model servers and gateway, controllers.

`Processes` is a context manager: whatever happens inside (an error, Ctrl-C, SIGTERM), every process
the demo started is stopped on the way out; with `keep=True` a demo that finished leaves them running
(the supervisor keeps them up; `kubeloop down` stops them).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from kubeloop.local import processes
from kubeloop.local.identity import signal_group
from kubeloop.pipelines.local import runner_identity
from kubeloop.settings import Settings
from kubeloop.spec import ModelDeployment

UI_WAIT_S = 240.0
CONTROLLER_WAIT_S = 10.0


class Processes:
    """The demo's processes; `__exit__` stops each of them whether the demo finished or not."""

    def __init__(self, settings: Settings, deployment: str, *, keep: bool = False) -> None:
        self.settings, self.deployment, self.keep = settings, deployment, keep
        self.started_at = time.time()
        self.ui_url: str | None = None
        self.ui_error: str | None = None
        self._ui: threading.Thread | None = None
        self._previous_term: Callable[[int, FrameType | None], Any] | int | None = None
        self._endpoints: dict[str, None] = {}  # insertion-ordered set: processes come and go

    def __enter__(self) -> Processes:
        # SIGTERM ends the demo as Ctrl-C does, so the same clean-up runs.
        self._previous_term = signal.signal(signal.SIGTERM, _interrupt)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if error is not None or not self.keep:
                self.stop_all()
        finally:
            signal.signal(signal.SIGTERM, self._previous_term)

    def start_ui(self) -> None:
        """Start the MLflow server (UI over the registry) in the background; the demo does not wait for it."""
        from kubeloop.platform_services import up

        def run() -> None:
            try:
                self.ui_url = up(self.settings).url
            except Exception as error:  # noqa: BLE001 - the loop runs without the UI
                self.ui_error = str(error)

        self._ui = threading.Thread(target=run, name="mlflow-ui", daemon=True)
        self._ui.start()

    def wait_ui(self, timeout: float = UI_WAIT_S) -> str | None:
        """The UI's URL once it answers (None if it failed or was not started)."""
        if self._ui is not None:
            self._ui.join(timeout)
        return self.ui_url

    def serve(self, deployment: ModelDeployment, *, version: str) -> str:
        """What `kubeloop deploy` does: a server for `version`, the gateway, the route; the predict URL."""
        from kubeloop.local.deploy import deploy_version

        _, gateway = deploy_version(self.settings, deployment, version=version)
        return f"{gateway.url}/v1/models/{deployment.name}:predict"

    def metrics_endpoints(self) -> list[str]:
        """The Prometheus endpoints seen so far: the gateway, each model server and rollout controller."""
        from kubeloop.controller.local import controller_records, metrics_targets

        live = metrics_targets(self.settings, self.deployment) + [
            f"{r.url}/metrics" for r in controller_records(self.settings, self.deployment)
        ]
        self._endpoints.update(dict.fromkeys(live))
        return list(self._endpoints)

    def note_controller(self, *, timeout: float = CONTROLLER_WAIT_S) -> None:
        """Add the endpoint of the rollout controller just started (it records itself once serving)."""
        from kubeloop.controller.local import controller_records

        deadline = time.monotonic() + timeout
        while not controller_records(self.settings, self.deployment) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.metrics_endpoints()

    def stop_all(self) -> None:
        """Stop the supervisor, rollout controller, model servers, gateway and UI this demo started."""
        from kubeloop.controller.local import controller_records
        from kubeloop.local.supervisor_process import stop_supervisor
        from kubeloop.platform_services import down

        stop_supervisor(self.settings)  # first: it would start again what is stopped next
        for controller in controller_records(self.settings, self.deployment):
            processes.stop(controller)
        self._stop_pipeline_runs()
        processes.stop_deployment(self.settings, self.deployment)
        processes.stop_gateway(self.settings)
        if self._ui is not None:
            self._ui.join(UI_WAIT_S)  # a server still starting must be recorded before it can be stopped
            down(self.settings)

    def _stop_pipeline_runs(self) -> None:
        """Stop training runs this demo submitted that are still going (they run in their own session)."""
        for request in (self.settings.home / "pipelines").glob("*/request.json"):
            run_dir = request.parent
            submitted = json.loads(request.read_text()).get("submitted", 0.0)
            if submitted < self.started_at or (run_dir / "status.json").exists():
                continue
            runner = runner_identity(run_dir)
            if runner is not None:
                signal_group(runner, signal.SIGTERM)  # only if that pid is still the run's runner


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
