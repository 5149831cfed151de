"""Writes the chart files derived from Python: the ModelDeployment CRD and the three Grafana dashboards.

Run `python charts/kubeloop/hack/generate.py` after changing the spec schema, the metric names or a panel;
`--check` exits 1 when a committed file differs from what would be generated (the chart tests run it).
Metric names come from kubeloop.telemetry.names only, so a dashboard cannot query what nobody exports;
label matchers and the error-status pattern from kubeloop.telemetry.queries, as the rollout checks use.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from kubeloop.k8s.crd import build_crd
from kubeloop.telemetry import names as m
from kubeloop.telemetry.queries import ERROR_STATUS, selector

CHART = Path(__file__).resolve().parents[1]
DEPLOYMENT = {"deployment": "~$deployment"}
SEL = selector(DEPLOYMENT)
RATE = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def target(expr: str, legend: str) -> dict:
    return {"expr": expr, "legendFormat": legend}


def by_role(metric: str, *, errors: bool = False) -> str:
    labels = {**DEPLOYMENT, "status": ERROR_STATUS} if errors else DEPLOYMENT
    return f"sum by (deployment, version, role) (rate({metric}{selector(labels)}[{RATE}]))"


def quantile(q: float, metric: str) -> str:
    return (f"histogram_quantile({q}, sum by (le, deployment, version, role) "
            f"(rate({metric}_bucket{SEL}[{RATE}])))")


def error_ratio(metric: str) -> str:
    # Without the `or ... * 0` a version with no errors at all would show no line instead of 0.
    return f"({by_role(metric, errors=True)} or {by_role(metric)} * 0) / {by_role(metric)}"


ROLLOUTS = [
    ("Phase", "state-timeline", "", [target(f"max by (deployment, phase) ({m.ROLLOUT_PHASE}{SEL}) == 1",
                                            "{{deployment}} {{phase}}")]),
    ("Canary weight (%)", "timeseries", "percent", [
        target(f"{m.ROLLOUT_CANARY_WEIGHT}{SEL}", "{{deployment}} rollout"),
        target(f"{m.GATEWAY_ROUTE_WEIGHT}{SEL}", "{{deployment}} gateway {{role}} v{{version}}")]),
    ("Time in current step", "stat", "s", [
        target(f"time() - {m.ROLLOUT_STEP_STARTED}{SEL}", "{{deployment}}")]),
    ("Check value against threshold", "timeseries", "", [
        target(f"{m.ROLLOUT_CHECK_VALUE}{SEL}", "{{deployment}} {{check}} value"),
        target(f"{m.ROLLOUT_CHECK_THRESHOLD}{SEL}", "{{deployment}} {{check}} threshold")]),
    ("Check status (1 pass, 0 inconclusive, -1 fail)", "state-timeline", "", [
        target(f"{m.ROLLOUT_CHECK_STATUS}{SEL}", "{{deployment}} {{check}}")]),
    ("Decisions", "timeseries", "", [
        target(f"sum by (deployment, kind, reason) (increase({m.ROLLOUT_DECISIONS_TOTAL}{SEL}[{RATE}]))",
               "{{deployment}} {{kind}}: {{reason}}")]),
]

SERVING = [
    ("Requests per second by version and role", "timeseries", "reqps", [
        target(by_role(m.REQUESTS_TOTAL), "{{deployment}} {{role}} v{{version}}")]),
    ("Error ratio by version and role", "timeseries", "percentunit", [
        target(error_ratio(m.REQUESTS_TOTAL), "{{deployment}} {{role}} v{{version}}")]),
    ("Latency p50 and p99 by version and role", "timeseries", "s", [
        target(quantile(0.5, m.REQUEST_DURATION), "p50 {{deployment}} {{role}} v{{version}}"),
        target(quantile(0.99, m.REQUEST_DURATION), "p99 {{deployment}} {{role}} v{{version}}")]),
    ("Predictions by class", "timeseries", "reqps", [
        target(f"sum by (deployment, version, class) (rate({m.PREDICTIONS_TOTAL}{SEL}[{RATE}]))",
               "{{deployment}} v{{version}} {{class}}")]),
    ("Gateway requests by role and status", "timeseries", "reqps", [
        target(f"sum by (deployment, role, status) (rate({m.GATEWAY_REQUESTS_TOTAL}{SEL}[{RATE}]))",
               "{{deployment}} {{role}} {{status}}")]),
    ("Gateway latency p99", "timeseries", "s", [
        target(quantile(0.99, m.GATEWAY_REQUEST_DURATION), "{{deployment}} {{role}} v{{version}}")]),
    ("Gateway mirror drops and retries", "timeseries", "reqps", [
        target(f"sum by (deployment) (rate({m.GATEWAY_MIRROR_DROPPED_TOTAL}{SEL}[{RATE}]))",
               "{{deployment}} mirror dropped"),
        target(f"sum by (deployment) (rate({m.GATEWAY_RETRIES_TOTAL}{SEL}[{RATE}]))",
               "{{deployment}} retried")]),
    ("Prediction-log queue", "timeseries", "", [
        target(f"sum by (instance) ({m.PREDLOG_QUEUE_DEPTH})", "{{instance}} queued"),
        target(f"sum by (instance) (rate({m.PREDLOG_WRITTEN_TOTAL}[{RATE}]))", "{{instance}} written/s"),
        target(f"sum by (instance) (rate({m.PREDLOG_DROPPED_TOTAL}[{RATE}]))", "{{instance}} dropped/s")]),
]

DRIFT = [
    ("Drift share (share of drifted features)", "timeseries", "percentunit", [
        target(f"{m.DRIFT_SHARE}{SEL}", "{{deployment}} v{{version}}")]),
    ("Per-feature drift score", "timeseries", "", [
        target(f"{m.DRIFT_SCORE}{SEL}", "{{deployment}} {{feature}}")]),
    ("Drift detected", "state-timeline", "", [
        target(f"{m.DRIFT_DETECTED}{SEL}", "{{deployment}} v{{version}}")]),
    ("Rows in the last window", "timeseries", "", [target(f"{m.DRIFT_ROWS}{SEL}", "{{deployment}}")]),
    ("Time since the last drift run", "stat", "s", [
        target(f"time() - {m.DRIFT_LAST_RUN}{SEL}", "{{deployment}}")]),
    ("Retrains fired", "timeseries", "", [
        target(f"sum by (deployment, reason) (increase({m.RETRAINS_TOTAL}{SEL}[{RATE}]))",
               "{{deployment}} {{reason}}")]),
    ("Pipeline runs by outcome", "timeseries", "", [
        target(f"sum by (pipeline, state) (increase({m.PIPELINE_RUNS_TOTAL}[{RATE}]))",
               "{{pipeline}} {{state}}")]),
]

DECISION_ANNOTATION = {
    "name": "Rollout decisions",
    "datasource": {"type": "prometheus", "uid": "${datasource}"},
    "enable": True,
    "iconColor": "orange",
    "expr": f"sum by (deployment, kind, reason) (changes({m.ROLLOUT_DECISIONS_TOTAL}{SEL}[2m])) > 0",
    "step": "1m",
    "titleFormat": "{{deployment}}: {{kind}}",
    "textFormat": "{{reason}}",
    "tagKeys": "deployment,kind",
    "useValueForTime": False,
}


def panel(index: int, title: str, kind: str, unit: str, targets: list[dict]) -> dict:
    width = 12
    return {
        "id": index + 1,
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": width, "x": (index % 2) * width, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit} if unit else {}, "overrides": []},
        "options": {},
        "targets": [{**t, "refId": chr(ord("A") + i), "datasource": DATASOURCE}
                    for i, t in enumerate(targets)],
    }


def dashboard(uid: str, title: str, panels: list, deployment_metric: str, annotations: list) -> dict:
    return {
        "uid": uid,
        "title": title,
        "tags": ["kubeloop"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": annotations},
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
            {"name": "deployment", "type": "query", "label": "Deployment", "includeAll": True, "multi": True,
             "allValue": ".*", "refresh": 2,
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "definition": f"label_values({deployment_metric}, deployment)",
             "query": {"query": f"label_values({deployment_metric}, deployment)", "refId": "deployments"}},
        ]},
        "panels": [panel(i, *spec) for i, spec in enumerate(panels)],
    }


def dashboards() -> dict[str, dict]:
    return {
        "rollouts.json": dashboard("kubeloop-rollouts", "kubeloop / Rollouts", ROLLOUTS,
                                   m.ROLLOUT_PHASE, [DECISION_ANNOTATION]),
        "serving.json": dashboard("kubeloop-serving", "kubeloop / Serving", SERVING, m.REQUESTS_TOTAL, []),
        "drift.json": dashboard("kubeloop-drift", "kubeloop / Drift and retraining", DRIFT,
                                m.DRIFT_SHARE, []),
    }


def rendered() -> dict[Path, str]:
    files = {CHART / "dashboards" / name: json.dumps(body, indent=2) + "\n"
             for name, body in dashboards().items()}
    header = "# Generated by hack/generate.py from kubeloop.k8s.crd.build_crd(): do not edit.\n"
    crd = header + yaml.safe_dump(build_crd(), sort_keys=False)
    files[CHART / "crds" / "modeldeployments.kubeloop.io.yaml"] = crd
    return files


def main(argv: list[str]) -> int:
    stale = [path for path, text in rendered().items() if not path.is_file() or path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"stale: {path.relative_to(CHART)} (run python charts/kubeloop/hack/generate.py)")
        return 1 if stale else 0
    for path, text in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(rendered())} files, {len(stale)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
