"""Alias and tag names kubeloop writes on MLflow model versions; the one place they are spelled."""

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"

TAG_DATA_DIGEST = "kubeloop.data_digest"
TAG_ARTIFACT_SHA256 = "kubeloop.artifact_sha256"
TAG_TASK = "kubeloop.task"
TAG_TARGET = "kubeloop.target"
TAG_GATE_METRIC = "kubeloop.gate.metric"
TAG_GATE_VALUE = "kubeloop.gate.value"
TAG_GATE_VERDICT = "kubeloop.gate.verdict"
TAG_GATE_REASON = "kubeloop.gate.reason"
TAG_ROLLOUT_OUTCOME = "kubeloop.rollout.outcome"
TAG_ROLLOUT_REASON = "kubeloop.rollout.reason"
TAG_TRAIL = "kubeloop.trail"

# Artifacts logged on the training run beside the model (paths relative to the run's artifact root).
MODEL_ARTIFACT_PATH = "model"
REFERENCE_SAMPLE_PATH = "reference/sample.parquet"
REFERENCE_PROFILE_PATH = "reference/profile.json"
