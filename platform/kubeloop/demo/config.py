"""The demo's timings (normal and `--fast`) and the ModelDeployment it serves, labels and rolls out.

Labels: the servers choose rows for labeling by predicted class (every versicolor answer, half of the
others: after the shift the champion answers versicolor for about 1 flower in 30, so it is the rare
class a careful team labels whole), the demo's labeler labels them a few seconds later, and the
weights make the online accuracy an estimate for all the traffic. The drift policy retrains on
either trigger (the inputs drifted, or the champion's online accuracy is shown to be more than 10
points under its holdout accuracy) and trains on the labeled production window alone: what the
world looks like now. The rollout adds a `quality` check: in shadow the challenger must be not worse
than the champion by more than 2 points on the same labeled requests.

The rollout checks are those of a real deployment except two thresholds. A model retrained because
the inputs drifted is *meant* to answer differently from the champion exactly where the champion is
now wrong (here about three requests in ten, and its class frequencies move as much), so the shadow
disagreement and prediction-shift thresholds are set to 0.5: they still stop a challenger that
answers unlike the champion on most requests (a model trained on shuffled labels disagrees on about
two in three), while the error-rate and latency checks stay strict, and those catch the broken v3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.spec import ModelDeployment, parse_deployment

DEPLOYMENT = "iris"
MODEL = "iris-classifier"
RETRAIN_DISAGREEMENT = 0.5
LABELING = {"policy": "stratified", "rate": 0.5, "classRates": {"1": 1.0}}
QUALITY_DROP = 0.1
QUALITY_MARGIN = 0.02


@dataclass(frozen=True, kw_only=True)
class Timings:
    """How long each stage of the demo lasts, in seconds (requests per second for `rate`)."""

    rate: float
    drift_window: float
    min_rows: int
    shadow: float
    shadow_samples: int
    canary_steps: tuple[int, ...]
    canary_interval: float
    rollout_timeout: float
    retrain_timeout: float
    fast: bool
    label_delay: float  # seconds between an answer and its label
    min_labels: int  # labeled answers before quality is judged (the trigger and the rollout check)


FAST = Timings(
    rate=30.0, drift_window=10.0, min_rows=60, shadow=3.0, shadow_samples=20,
    canary_steps=(25, 50), canary_interval=3.0, rollout_timeout=150.0, retrain_timeout=420.0, fast=True,
    label_delay=2.0, min_labels=30,
)  # fmt: skip
NORMAL = Timings(
    rate=30.0, drift_window=30.0, min_rows=400, shadow=15.0, shadow_samples=100,
    canary_steps=(10, 25, 50), canary_interval=12.0, rollout_timeout=600.0, retrain_timeout=900.0, fast=False,
    label_delay=5.0, min_labels=100,
)  # fmt: skip


def timings(*, fast: bool) -> Timings:
    """The stage durations for this run."""
    return FAST if fast else NORMAL


def demo_deployment(*, timing: Timings, port: int) -> ModelDeployment:
    """The deployment: KServe behind the gateway, labeled by class, a short shadow and canary with a
    quality check, a drift policy that retrains on drift or a quality drop, on labeled production data."""
    checks: list[dict[str, Any]] = [
        {"name": "error-rate", "kind": "error-rate", "threshold": 0.05, "minSamples": 10},
        {"name": "latency-p99", "kind": "latency-p99-ratio", "threshold": 10, "minSamples": 10},
        {"name": "disagreement", "kind": "disagreement", "threshold": RETRAIN_DISAGREEMENT, "minSamples": 20},
        {"name": "prediction-shift", "kind": "prediction-shift", "threshold": 0.5, "minSamples": 20},
        {"name": "quality", "kind": "quality", "metric": "accuracy", "threshold": QUALITY_MARGIN,
         "minLabels": timing.min_labels},
    ]
    return parse_deployment(
        {
            "metadata": {"name": DEPLOYMENT},
            "spec": {
                "model": {"name": MODEL},
                "serving": {"runtime": "kserve", "port": port},
                "rollout": {
                    "shadow": {"duration": timing.shadow, "minSamples": timing.shadow_samples},
                    "canary": {"steps": list(timing.canary_steps), "interval": timing.canary_interval},
                    "checks": checks,
                    "failureLimit": 1,
                    "keepPreviousWarm": 1.0,
                },
                "drift": {
                    "window": timing.drift_window,
                    "minRows": timing.min_rows,
                    "consecutiveWindows": 1,
                    "cooldown": 3600.0,
                    "autoRollout": True,
                    "quality": {"maxDrop": QUALITY_DROP, "minLabels": timing.min_labels},
                    "trainOn": "labeled",
                    "labeled": {"minRows": 2 * timing.min_labels},
                },
                "labeling": LABELING,
            },
        }
    )
