"""Rollout analysis: checks that measure a challenger and judge it Pass, Fail or Inconclusive."""

from kubeloop.analysis.assess import assess, checks_for_phase
from kubeloop.analysis.results import CheckResult, Verdict

__all__ = ["CheckResult", "Verdict", "assess", "checks_for_phase"]
