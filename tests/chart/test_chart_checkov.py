"""checkov's Kubernetes checks pass on every rendered scenario; each skip carries its reason in the chart."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from rendering import CHART, SCENARIOS

from kubeloop.devtools import find_tool

pytestmark = [pytest.mark.k8s, pytest.mark.slow]

# Every check the chart skips, and the template that says why (as a checkov.io/skipN annotation).
JUSTIFIED_SKIPS = {
    "CKV_K8S_43": "templates/_helpers.tpl",  # image digests come from the build, not from chart defaults
    "CKV_K8S_38": "templates/operator/deployment.yaml",  # only the operator mounts an API token
    "CKV_K8S_8": "templates/tests/test-connection.yaml",  # one-shot helm test pods: no liveness probe
    "CKV_K8S_9": "templates/tests/test-connection.yaml",  # ... and no readiness probe
}


@pytest.fixture(scope="module")
def checkov_report(
    rendered: dict[str, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> dict:
    folder = tmp_path_factory.mktemp("rendered")
    for scenario, objects in rendered.items():
        (folder / f"{scenario}.yaml").write_text(yaml.safe_dump_all(objects))
    cmd = [str(find_tool("checkov")), "--directory", str(folder), "--framework", "kubernetes",
           "--output", "json", "--skip-download"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert result.stdout.strip(), f"checkov printed nothing: {result.stderr[-2000:]}"
    return json.loads(result.stdout)


def _failures(report: dict) -> list[str]:
    return [f"{c['check_id']} {c['check_name']} on {c['resource']} ({Path(c['file_path']).name})"
            for c in report["results"]["failed_checks"]]


def test_checkov_finds_no_failures(checkov_report: dict) -> None:
    assert checkov_report["summary"]["passed"] > 500
    assert not _failures(checkov_report), "\n".join(_failures(checkov_report))


def test_every_skip_is_justified_in_the_chart(checkov_report: dict) -> None:
    skipped = checkov_report["results"]["skipped_checks"]
    assert {c["check_id"] for c in skipped} <= set(JUSTIFIED_SKIPS)
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "")) > 20, check["check_id"]
    for check_id, template in JUSTIFIED_SKIPS.items():
        assert f"{check_id}=" in (CHART / template).read_text(), f"{check_id} is not explained in {template}"


def test_scenarios_were_all_scanned(checkov_report: dict) -> None:
    scanned = {Path(c["file_path"]).stem for c in checkov_report["results"]["passed_checks"]}
    assert scanned == set(SCENARIOS)
