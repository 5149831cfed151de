"""The guided demo of the whole loop: train, serve, drift, retrain, roll out, roll back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubeloop.demo.run import DemoRun, run_demo

__all__ = ["DemoRun", "run_demo"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `python -m kubeloop.demo.traffic` (the load generator as its own
    # process) does not load the whole demo first.
    if name in __all__:
        from kubeloop.demo import run

        return getattr(run, name)
    raise AttributeError(f"module 'kubeloop.demo' has no attribute {name!r}")
