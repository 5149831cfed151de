"""Grafana dashboards: the three the design names, every query on exported metric names only, every query
parsed by promtool, and each shipped as a ConfigMap the Grafana sidecar picks up."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from rendering import CHART

from kubeloop.devtools import find_tool
from kubeloop.telemetry import names

pytestmark = pytest.mark.k8s

DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))
EXPORTED = {v for v in vars(names).values() if isinstance(v, str) and v.startswith("kubeloop_")}
# Grafana fills these in; any concrete value gives the same PromQL shape.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$deployment": ".*"}


def queries(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and annotations."""
    exprs = [t["expr"] for p in graphs(board) for t in p["targets"]]
    return exprs + [a["expr"] for a in board["annotations"]["list"]]


def graphs(board: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that draw something (rows only title the panels under them)."""
    return [p for p in board["panels"] if p["type"] != "row"]


def concrete(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_the_three_dashboards_exist() -> None:
    titles = {_load(p)["title"] for p in DASHBOARDS}
    assert titles == {"kubeloop / Rollouts", "kubeloop / Serving", "kubeloop / Drift and retraining"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_queries_use_only_exported_metric_names(path: Path) -> None:
    board = _load(path)
    assert all(p["targets"] for p in graphs(board)), "a panel without a query"
    for expr in queries(board) + [v["definition"] for v in board["templating"]["list"] if "definition" in v]:
        used = {re.sub(r"_(bucket|count|sum)$", "", m) for m in re.findall(r"kubeloop_[a-z0-9_]+", expr)}
        assert used, f"no kubeloop metric in {expr}"
        assert used <= EXPORTED, f"{expr} uses {used - EXPORTED}, which kubeloop does not export"


def test_every_query_parses_with_promtool(tmp_path: Path) -> None:
    """Each query becomes a recording rule, so promtool's PromQL parser checks all of them at once."""
    rules = [{"record": f"kubeloop:dashboard_{path.stem}:q{i}", "expr": concrete(expr)}
             for path in DASHBOARDS for i, expr in enumerate(queries(_load(path)))]
    file = tmp_path / "dashboard-queries.yaml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run([str(find_tool("promtool")), "check", "rules", str(file)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_serving_dashboard_has_a_quality_row_of_online_against_holdout_quality() -> None:
    panels = _load(CHART / "dashboards" / "serving.json")["panels"]
    row = next(i for i, p in enumerate(panels) if p["type"] == "row")
    below = panels[row + 1:]
    assert panels[row]["title"] == "Quality" and panels[row]["gridPos"]["w"] == 24
    assert all(p["gridPos"]["y"] > panels[row]["gridPos"]["y"] for p in below)
    used = " ".join(t["expr"] for p in below for t in p["targets"])
    for metric in (names.QUALITY_VALUE, names.QUALITY_LOWER, names.QUALITY_UPPER, names.QUALITY_OFFLINE,
                   names.QUALITY_LABELED_ROWS, names.QUALITY_EFFECTIVE_ROWS, names.LABELS_RECEIVED_TOTAL,
                   names.LABELS_STORED, names.LABELS_UNMATCHED):
        assert metric in used, metric
    positions = {(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels}
    assert len(positions) == len(panels), "two panels in one place"


def test_rollouts_dashboard_shows_decisions_as_annotations() -> None:
    board = _load(CHART / "dashboards" / "rollouts.json")
    (annotation,) = board["annotations"]["list"]
    assert names.ROLLOUT_DECISIONS_TOTAL in annotation["expr"]
    assert annotation["textFormat"] == "{{reason}}"


def test_dashboards_ship_as_sidecar_configmaps(rendered: dict[str, list[dict[str, Any]]]) -> None:
    maps = [o for o in rendered["default"] if _is_dashboard(o)]
    assert len(maps) == len(DASHBOARDS)
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        (body,) = cm["data"].values()
        assert json.loads(body)["uid"] in {_load(p)["uid"] for p in DASHBOARDS}
    assert not [o for o in rendered["monitoring-off"] if _is_dashboard(o)]


def _is_dashboard(obj: dict[str, Any]) -> bool:
    return obj["kind"] == "ConfigMap" and "grafana_dashboard" in obj["metadata"].get("labels", {})
