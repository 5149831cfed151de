"""KServe deployment modes, and which field splits an InferenceService's traffic in each.

What KServe does (read from its source, v0.20 and main):
- the mode of an InferenceService is `status.deploymentMode` once KServe has reconciled it, else its
  `serving.kserve.io/deploymentMode` annotation, else the cluster default (`defaultDeploymentMode` in
  the `deploy` entry of the `inferenceservice-config` ConfigMap); the old names are folded into the
  new ones (Serverless -> Knative, RawDeployment -> Standard), and a mode cannot change once recorded;
- Knative mode splits revisions by `spec.predictor.canaryTrafficPercent`; every other mode ignores it;
- Standard mode has `spec.canary` since v0.20: named canary predictors, each its own Deployment and
  Service, with `trafficPercent`; only with a stable predictor that has a model `storageUri` (so the
  MLflow runtime, not a custom container) and with fixed canary replicas. The InferenceService's host
  splits by those weights where KServe routes through the Gateway API (KServe's main branch after
  v0.20.0); a server without `spec.canary` in its schema prunes the field, which the router notices;
- ModelMesh has no traffic split at all.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
CONFIG_MAP = "inferenceservice-config"
_LEGACY = {"Serverless": "Knative", "RawDeployment": "Standard"}


class Mode(StrEnum):
    """KServe's deployment modes, by their current names."""

    KNATIVE = "Knative"
    STANDARD = "Standard"
    MODELMESH = "ModelMesh"


class Split(StrEnum):
    """The InferenceService field that moves traffic between the stable and the canary predictor."""

    CANARY_PERCENT = "canaryTrafficPercent"  # Knative revisions
    CANARY_SPEC = "spec.canary"  # Standard mode's named canaries (KServe 0.20+)


def parse_mode(text: str | None) -> Mode | None:
    """A mode name as KServe reads it (old names folded), or None for an empty or unknown one."""
    if not text:
        return None
    name = _LEGACY.get(text, text)
    return Mode(name) if name in Mode.__members__.values() else None


def default_mode(config_map: dict[str, Any] | None) -> str | None:
    """The cluster default as written in KServe's `inferenceservice-config` ConfigMap, if it says one."""
    raw = ((config_map or {}).get("data") or {}).get("deploy")
    if not raw:
        return None
    try:
        found = json.loads(raw).get("defaultDeploymentMode")
    except (ValueError, AttributeError):
        return None
    return found if isinstance(found, str) and found else None


def mode_annotation(live: dict[str, Any] | None, *, cluster_default: str | None) -> str:
    """The mode annotation to write: the live object's (it never changes), the cluster's, else Serverless."""
    annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
    recorded = ((live or {}).get("status") or {}).get("deploymentMode")
    return annotations.get(MODE_ANNOTATION) or recorded or cluster_default or "Serverless"


def mode_of(live: dict[str, Any] | None, *, cluster_default: str | None) -> Mode:
    """The mode KServe runs (or will run) the InferenceService in, in KServe's own order of precedence."""
    recorded = parse_mode(((live or {}).get("status") or {}).get("deploymentMode"))
    return recorded or parse_mode(mode_annotation(live, cluster_default=cluster_default)) or Mode.KNATIVE


def split_for(mode: Mode, *, runtime: str) -> Split | str:
    """The field that splits traffic in this mode for this runtime, or why none does (a refusal to show)."""
    if mode is Mode.KNATIVE:
        return Split.CANARY_PERCENT
    if mode is Mode.STANDARD and runtime == "mlflow":
        return Split.CANARY_SPEC
    if mode is Mode.STANDARD:
        return (
            f"KServe runs this InferenceService in Standard mode, which ignores canaryTrafficPercent; its "
            f"spec.canary needs a predictor with a model storageUri, which the {runtime!r} runtime's "
            "container does not have: use spec.router istio or gateway-api (or serving.runtime mlflow)"
        )
    return (
        f"KServe runs this InferenceService in {mode.value} mode, which cannot split traffic: "
        "use spec.router istio or gateway-api"
    )
