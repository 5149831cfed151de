"""The guided demo of the whole loop: train, serve, drift, retrain, roll out, roll back."""

from kubeloop.demo.run import DemoRun, run_demo

__all__ = ["DemoRun", "run_demo"]
