"""Drift monitoring: reference profiles, the drift check, Evidently reports, metrics and the retrain policy.

profile = build_profile(features=train_inputs, predictions=model.predict(train_inputs))
result = check_drift(reference=Reference(profile=profile, sample=sample), current=window, spec=drift_spec)
inputs = RetrainInputs(history=outcomes, version="3", last_retrain_at=None, now=now)
decision = decide_retrain(spec=drift_spec, inputs=inputs)
outcome = run_drift_job(DriftJob(store=..., read_logs=..., state_dir=...), deployment=deployment)
"""

from kubeloop.drift.check import Reference, check_drift
from kubeloop.drift.job import DriftJob, JobOutcome, run_drift_job
from kubeloop.drift.policy import RetrainDecision, RetrainInputs, WindowOutcome, decide_retrain
from kubeloop.drift.profile import build_profile
from kubeloop.drift.results import DriftResult, FeatureDrift
from kubeloop.drift.schedule import is_due

__all__ = [
    "DriftJob",
    "DriftResult",
    "FeatureDrift",
    "JobOutcome",
    "Reference",
    "RetrainDecision",
    "RetrainInputs",
    "WindowOutcome",
    "build_profile",
    "check_drift",
    "decide_retrain",
    "is_due",
    "run_drift_job",
]
