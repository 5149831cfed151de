"""Running the real helm on the chart: scenarios, lint and render, and walking the rendered objects."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from kubeloop.devtools import find_tool

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kubeloop"
CRDS_ENV = "KUBELOOP_CRDS_DIR"
NAMESPACE = "kubeloop"
# name -> values file (None: the chart defaults); every ci/*-values.yaml is a scenario.
SCENARIOS: dict[str, Path | None] = {
    "default": None,
    **{p.name.removesuffix("-values.yaml"): p for p in sorted((CHART / "ci").glob("*-values.yaml"))},
}


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real helm binary (found or installed by `make install`)."""
    env = {**os.environ, "HELM_CACHE_HOME": str(REPO / ".tools" / "helm-cache"),
           "HELM_CONFIG_HOME": str(REPO / ".tools" / "helm-config"),
           "HELM_DATA_HOME": str(REPO / ".tools" / "helm-data")}
    cmd = [str(find_tool("helm")), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def values_args(scenario: str) -> list[str]:
    """`-f <file>` for a scenario, nothing for the defaults."""
    path = SCENARIOS[scenario]
    return ["-f", str(path)] if path else []


def render(*extra: str, release: str = "kl") -> list[dict[str, Any]]:
    """`helm template` output (CRDs and test hooks included) as a list of objects."""
    out = helm("template", release, str(CHART), "--namespace", NAMESPACE, "--include-crds", *extra).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def crds_folder(env: Mapping[str, str]) -> Path:
    """The upstream CRDs folder named by $KUBELOOP_CRDS_DIR; raises saying how to set it."""
    value = env.get(CRDS_ENV)
    if not value:
        raise LookupError(f"{CRDS_ENV} is not set: point it at the folder of upstream CRDs "
                          f"(.ci/run exports it; e.g. export {CRDS_ENV}=../shared/crds)")
    if not Path(value).is_dir():
        raise LookupError(f"{CRDS_ENV}={value} is not a folder of CRD YAML files")
    return Path(value)


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod spec inside a workload (or the Pod's own)."""
    kind = obj["kind"]
    if kind == "Pod":
        return [obj["spec"]]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return [obj["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    """Every non-empty document of a YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
