"""What a kubeloop component does first inside its task's process: find its context, skip the teardown.

A KFP lightweight task is a fresh Python process; with MLflow and scikit-learn imported, the
interpreter's own teardown after the work is done costs about a second (0.6-1.2 s measured per
task). `end_without_teardown` ends the process right after the last exit handler instead. A user's
own component can call it too, as the first line of its body.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from types import TracebackType
from typing import Any

from kubeloop.pipelines.base import IN_WARM_TASK_ENV, PIPELINE_RUN_ENV


def end_without_teardown() -> None:
    """End this process with os._exit once every other exit handler has run; exit 1 after an uncaught error.

    Registered first, it runs last (exit handlers run in reverse order), so MLflow's and tempfile's
    handlers still run. A `sys.exit(n)` in the task would end with 0: components never call it.
    A task forked by the warm starter (`kubeloop.pipelines.warm`) already ends this way.
    """
    if os.environ.get(IN_WARM_TASK_ENV) == "1":
        return
    failed: list[bool] = []
    previous = sys.excepthook

    def record(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        failed.append(True)
        previous(kind, error, trace)

    def leave() -> None:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(1 if failed else 0)

    sys.excepthook = record
    atexit.register(leave)


def context() -> dict[str, Any]:
    """The task's registry and lineage, from its environment: tracking URI, artifact root, pipeline run.

    The runners put KUBELOOP_TRACKING_URI and KUBELOOP_PIPELINE_RUN in every task's environment.
    """
    from kubeloop.settings import load_settings

    settings = load_settings()
    return {
        "tracking_uri": settings.tracking_uri,
        "artifact_root": settings.artifact_root,
        "pipeline_run": os.environ.get(PIPELINE_RUN_ENV, ""),
    }


def use_experiment(name: str) -> str:
    """Point MLflow's fluent API (`mlflow.start_run`, `mlflow.<flavour>.log_model`) at the task's registry
    and experiment `name`, created with kubeloop's artifact root; return the experiment id.

    For a user's own training component, before it logs its model.
    """
    import mlflow

    from kubeloop.training.tracking import ensure_experiment

    found = context()
    mlflow.set_tracking_uri(found["tracking_uri"])
    experiment_id = ensure_experiment(found["tracking_uri"], name, artifact_root=found["artifact_root"])
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id
