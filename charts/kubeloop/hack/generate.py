"""Writes the chart files derived from Python: the ModelDeployment CRD, the three Grafana dashboards and
the alerting rules (`rules/alerts.yaml`, from `hack/alerts.in.yaml` with its query placeholders filled in).

Run `python charts/kubeloop/hack/generate.py` after changing the spec schema, the metric names, a panel or
an alert; `--check` exits 1 when a committed file differs from what would be generated (the chart tests
run it). Metric names come from kubeloop.telemetry.names only, so a dashboard cannot query what nobody
exports; rates, error ratios and latency quantiles are the typed queries of kubeloop.telemetry.queries,
the same values the rollout checks evaluate.

The dashboard JSON is built here rather than with grafana-foundation-sdk: tried, the SDK's dashboard
schema has no fields for Prometheus annotation queries (titleFormat, textFormat, tagKeys, step), so the
Rollouts dashboard's decision annotations would be patched in after the build, outside its checks, for
a builder about ten lines shorter.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from kubeloop.k8s.crd import build_crd
from kubeloop.telemetry import names as m
from kubeloop.telemetry import queries as q

CHART = Path(__file__).resolve().parents[1]
DEPLOYMENT = {"deployment": "~$deployment"}
RATE = "$__rate_interval"
ROLE = ("deployment", "version", "role")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def sel(metric: str) -> str:
    return q.selector(metric, DEPLOYMENT).to_promql()


def target(expr: str | q.Query, legend: str) -> dict:
    return {"expr": expr if isinstance(expr, str) else expr.to_promql(), "legendFormat": legend}


def rate(metric: str, *by: str, labels: dict[str, str] = DEPLOYMENT, total: bool = False) -> q.Rate:
    return q.Rate(selector=q.selector(metric, labels), window=RATE, by=by, total=total)


def quantile(quantile: float, metric: str) -> q.Quantile:
    return q.latency_quantile(DEPLOYMENT, RATE, quantile=quantile, metric=metric, by=ROLE)


def quality(metric: str, metrics: str, **labels: str) -> str:
    """A quality gauge of the chosen deployments for metrics matching `metrics` (whole-model ones unless
    `class` is given)."""
    return q.selector(metric, {**DEPLOYMENT, "metric": f"~{metrics}", "class": "", **labels}).to_promql()


def row(title: str) -> tuple[str, str, str, list[dict[str, str]]]:
    """A dashboard row: the panels after it, up to the next row, sit under its title."""
    return (title, "row", "", [])


WHOLE = "accuracy|macro-f1|r2"
VERSION_ROLE = "{{deployment}} {{role}} v{{version}}"


ROLLOUTS = [
    ("Phase", "state-timeline", "", [target(f"max by (deployment, phase) ({sel(m.ROLLOUT_PHASE)}) == 1",
                                            "{{deployment}} {{phase}}")]),
    ("Canary weight (%)", "timeseries", "percent", [
        target(f"{sel(m.ROLLOUT_CANARY_WEIGHT)}", "{{deployment}} rollout"),
        target(f"{sel(m.GATEWAY_ROUTE_WEIGHT)}", "{{deployment}} gateway {{role}} v{{version}}")]),
    ("Time in current step", "stat", "s", [
        target(f"time() - {sel(m.ROLLOUT_STEP_STARTED)}", "{{deployment}}")]),
    ("Check value against threshold", "timeseries", "", [
        target(f"{sel(m.ROLLOUT_CHECK_VALUE)}", "{{deployment}} {{check}} value"),
        target(f"{sel(m.ROLLOUT_CHECK_THRESHOLD)}", "{{deployment}} {{check}} threshold")]),
    ("Check status (1 pass, 0 inconclusive, -1 fail)", "state-timeline", "", [
        target(f"{sel(m.ROLLOUT_CHECK_STATUS)}", "{{deployment}} {{check}}")]),
    ("Decisions", "timeseries", "", [
        target(rate(m.ROLLOUT_DECISIONS_TOTAL, "deployment", "kind", "reason", total=True),
               "{{deployment}} {{kind}}: {{reason}}")]),
]

SERVING = [
    ("Requests per second by version and role", "timeseries", "reqps", [
        target(rate(m.REQUESTS_TOTAL, *ROLE), "{{deployment}} {{role}} v{{version}}")]),
    ("Error ratio by version and role", "timeseries", "percentunit", [
        target(q.error_rate(DEPLOYMENT, RATE, by=ROLE), "{{deployment}} {{role}} v{{version}}")]),
    ("Latency p50 and p99 by version and role", "timeseries", "s", [
        target(quantile(0.5, m.REQUEST_DURATION), "p50 {{deployment}} {{role}} v{{version}}"),
        target(quantile(0.99, m.REQUEST_DURATION), "p99 {{deployment}} {{role}} v{{version}}")]),
    ("Predictions by class", "timeseries", "reqps", [
        target(rate(m.PREDICTIONS_TOTAL, "deployment", "version", "class"), "{{deployment}} v{{version}} {{class}}")]),
    ("Gateway requests by role and status", "timeseries", "reqps", [
        target(rate(m.GATEWAY_REQUESTS_TOTAL, "deployment", "role", "status"), "{{deployment}} {{role}} {{status}}")]),
    ("Gateway latency p99", "timeseries", "s", [
        target(quantile(0.99, m.GATEWAY_REQUEST_DURATION), "{{deployment}} {{role}} v{{version}}")]),
    ("Gateway mirror drops and retries", "timeseries", "reqps", [
        target(rate(m.GATEWAY_MIRROR_DROPPED_TOTAL, "deployment"), "{{deployment}} mirror dropped"),
        target(rate(m.GATEWAY_RETRIES_TOTAL, "deployment"), "{{deployment}} retried")]),
    ("Prediction-log queue", "timeseries", "", [
        target(f"sum by (instance) ({m.PREDLOG_QUEUE_DEPTH})", "{{instance}} queued"),
        target(rate(m.PREDLOG_WRITTEN_TOTAL, "instance", labels={}), "{{instance}} written/s"),
        target(rate(m.PREDLOG_DROPPED_TOTAL, "instance", labels={}), "{{instance}} dropped/s")]),
    # Online quality from labels, weighted by inclusion probability, each with its interval.
    row("Quality"),
    ("Online accuracy, macro F1, R2 with their intervals", "timeseries", "percentunit", [
        target(quality(m.QUALITY_VALUE, WHOLE), f"{VERSION_ROLE} {{{{metric}}}}"),
        target(quality(m.QUALITY_LOWER, WHOLE), f"{VERSION_ROLE} {{{{metric}}}} lower"),
        target(quality(m.QUALITY_UPPER, WHOLE), f"{VERSION_ROLE} {{{{metric}}}} upper")]),
    # The alert compares the upper bound with the holdout figure: a drop shown, not merely possible.
    ("Champion online against its holdout figure", "timeseries", "percentunit", [
        target(quality(m.QUALITY_VALUE, WHOLE, role="champion"), "{{deployment}} v{{version}} {{metric}} online"),
        target(quality(m.QUALITY_UPPER, WHOLE, role="champion"), "{{deployment}} v{{version}} {{metric}} upper"),
        target(q.selector(m.QUALITY_OFFLINE, {**DEPLOYMENT, "metric": f"~{WHOLE}"}).to_promql(),
               "{{deployment}} v{{version}} {{metric}} holdout")]),
    ("Losses, calibration and errors (log loss, Brier, ECE; MAE, RMSE)", "timeseries", "", [
        target(quality(m.QUALITY_VALUE, "log-loss|brier|ece|mae|rmse"), f"{VERSION_ROLE} {{{{metric}}}}")]),
    ("Recall by class", "timeseries", "percentunit", [
        target(quality(m.QUALITY_VALUE, "recall", **{"class": "~.+"}), f"{VERSION_ROLE} {{{{class}}}}")]),
    ("Labeled rows and effective sample size", "timeseries", "", [
        target(sel(m.QUALITY_LABELED_ROWS), f"{VERSION_ROLE} labeled"),
        target(sel(m.QUALITY_EFFECTIVE_ROWS), f"{VERSION_ROLE} effective")]),
    ("Labels received by outcome; stored and waiting for their prediction", "timeseries", "", [
        target(rate(m.LABELS_RECEIVED_TOTAL, "deployment", "outcome"), "{{deployment}} {{outcome}}/s"),
        target(sel(m.LABELS_STORED), "{{deployment}} stored"),
        target(sel(m.LABELS_UNMATCHED), "{{deployment}} waiting")]),
]

DRIFT = [
    ("Drift share (share of drifted features)", "timeseries", "percentunit", [
        target(f"{sel(m.DRIFT_SHARE)}", "{{deployment}} v{{version}}")]),
    ("Per-feature drift score", "timeseries", "", [
        target(f"{sel(m.DRIFT_SCORE)}", "{{deployment}} {{feature}}")]),
    ("Drift detected", "state-timeline", "", [
        target(f"{sel(m.DRIFT_DETECTED)}", "{{deployment}} v{{version}}")]),
    ("Rows in the last window", "timeseries", "", [target(f"{sel(m.DRIFT_ROWS)}", "{{deployment}}")]),
    ("Time since the last drift run", "stat", "s", [
        target(f"time() - {sel(m.DRIFT_LAST_RUN)}", "{{deployment}}")]),
    ("Retrains fired", "timeseries", "", [
        target(rate(m.RETRAINS_TOTAL, "deployment", "reason", total=True), "{{deployment}} {{reason}}")]),
    ("Pipeline runs by outcome", "timeseries", "", [
        target(rate(m.PIPELINE_RUNS_TOTAL, "pipeline", "state", labels={}, total=True), "{{pipeline}} {{state}}")]),
]

DECISION_ANNOTATION = {
    "name": "Rollout decisions",
    "datasource": {"type": "prometheus", "uid": "${datasource}"},
    "enable": True,
    "iconColor": "orange",
    "expr": f"sum by (deployment, kind, reason) (changes({sel(m.ROLLOUT_DECISIONS_TOTAL)}[2m])) > 0",
    "step": "1m",
    "titleFormat": "{{deployment}}: {{kind}}",
    "textFormat": "{{reason}}",
    "tagKeys": "deployment,kind",
    "useValueForTime": False,
}


# The queries the alert rules use, by their placeholder in hack/alerts.in.yaml.
ALERT_QUERIES: dict[str, q.Query] = {
    "rolled_back": q.Rate(selector=q.selector(m.ROLLOUT_DECISIONS_TOTAL, {"kind": "rollback"}), window=900,
                          by=("deployment", "reason"), total=True),
    "challenger_error_ratio": q.error_rate({"role": "challenger"}, 300, by=("deployment",)),
    "retrains_last_hour": q.Rate(selector=q.selector(m.RETRAINS_TOTAL), window=3600, by=("deployment",),
                                 total=True),
    "predlog_dropped": q.Rate(selector=q.selector(m.PREDLOG_DROPPED_TOTAL), window=300, by=("job", "instance")),
}


def alert_rules() -> str:
    lines = (CHART / "hack" / "alerts.in.yaml").read_text().splitlines(keepends=True)
    text = "".join(line for line in lines if not line.startswith("#~"))
    for name, query in ALERT_QUERIES.items():
        text = text.replace(f"<<{name}>>", query.to_promql())
    if "<<" in text:
        raise SystemExit(f"alerts.in.yaml names a query ALERT_QUERIES lacks: {text[text.index('<<'):][:40]}")
    return "# Generated by hack/generate.py from hack/alerts.in.yaml: do not edit.\n" + text


def panel(index: int, title: str, kind: str, unit: str, targets: list[dict[str, str]], *, x: int, y: int
          ) -> dict[str, Any]:
    if kind == "row":
        return {"id": index + 1, "title": title, "type": "row", "collapsed": False, "panels": [],
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}}
    return {
        "id": index + 1,
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit} if unit else {}, "overrides": []},
        "options": {},
        "targets": [{**t, "refId": chr(ord("A") + i), "datasource": DATASOURCE}
                    for i, t in enumerate(targets)],
    }


def laid_out(panels: list[tuple[str, str, str, list[dict[str, str]]]]) -> list[dict[str, Any]]:
    """Panels two to a line, 8 high; a row takes a whole line of its own, 1 high."""
    placed: list[dict[str, Any]] = []
    x = y = 0
    for index, spec in enumerate(panels):
        if spec[1] == "row":
            y += 8 if x else 0
            placed.append(panel(index, *spec, x=0, y=y))
            x, y = 0, y + 1
            continue
        placed.append(panel(index, *spec, x=x, y=y))
        x, y = (12, y) if x == 0 else (0, y + 8)
    return placed


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
        "panels": laid_out(panels),
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
    files[CHART / "rules" / "alerts.yaml"] = alert_rules()
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
