"""The rollout controller: observes, asks the engine, persists, then acts through the router and registry."""

from kubeloop.controller.loop import Controller, Ports

__all__ = ["Controller", "Ports"]
