"""The rollout controller: observes, plans with the pure `plan_reconcile`, persists, then acts."""

from kubeloop.controller.loop import Controller, Ports, retire_when_due

__all__ = ["Controller", "Ports", "retire_when_due"]
