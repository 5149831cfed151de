"""Container images and skaffold, checked without Docker: hadolint and our own rules on the Dockerfiles,
and skaffold.yaml's artifacts, Helm wiring and profiles against the files and values they name."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from rendering import CHART, REPO

from kubeloop.devtools import find_tool

pytestmark = pytest.mark.k8s

DOCKERFILES = [REPO / "Dockerfile", REPO / "serving" / "Dockerfile"]
SKAFFOLD = REPO / "skaffold.yaml"


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_passes(path: Path) -> None:
    result = subprocess.run([str(find_tool("hadolint")), "--failure-threshold", "info", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_images_are_multi_stage_pinned_and_non_root(path: Path) -> None:
    steps = _instructions(path)
    args = dict(re.match(r"(\w+)=(\S+)", a).groups() for i, a in steps if i == "ARG" and "=" in a)
    bases = [a.split()[0] for i, a in steps if i == "FROM"]
    assert len(bases) >= 2, "build and runtime stages"
    stages = {a.split()[-1] for i, a in steps if i == "FROM" and " AS " in a.upper()}
    for base in bases:
        image = args.get(base[2:-1], "") if base.startswith("${") else base
        if image in stages:
            continue
        assert re.search(r"(:\d+\.\d+\.\d+[\w.-]*|@sha256:[0-9a-f]{64})$", image), f"{image} is not pinned"
    users = [a for i, a in steps if i == "USER"]
    final_user = users[-1].split(":")[0]
    assert final_user not in ("0", "root") and int(final_user) >= 10000
    runtime_at = next(n for n, (i, a) in enumerate(steps) if i == "FROM" and a.endswith("AS runtime"))
    runtime_users = [a for i, a in steps[runtime_at:] if i == "USER"]
    assert runtime_users and runtime_users[0].split(":")[0] == "10001", "the runtime stage runs as 10001"
    assert not [a for i, a in steps if i == "ADD" and re.match(r"https?://", a)], "no ADD of URLs"


def test_build_context_leaves_out_local_state() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".tools", "tests", "charts"} <= set(ignored)


@pytest.fixture(scope="module")
def skaffold() -> dict[str, Any]:
    return yaml.safe_load(SKAFFOLD.read_text())


def _sanitized(image: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", image)


def test_skaffold_schema_and_artifacts(skaffold: dict[str, Any]) -> None:
    assert re.fullmatch(r"skaffold/v4beta\d+", skaffold["apiVersion"])
    assert skaffold["kind"] == "Config"
    artifacts = skaffold["build"]["artifacts"]
    used = {(REPO / a["context"] / a["docker"]["dockerfile"]).resolve() for a in artifacts}
    assert used == {p.resolve() for p in DOCKERFILES}, "one artifact per Dockerfile at least"
    runtimes = {a["docker"].get("buildArgs", {}).get("RUNTIME") for a in artifacts} - {None}
    assert runtimes == {"kserve", "bentoml"}


def _value_exists(values: dict[str, Any], dotted: str) -> bool:
    node: Any = values
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def test_skaffold_deploys_the_chart_with_built_images(skaffold: dict[str, Any]) -> None:
    (release,) = skaffold["deploy"]["helm"]["releases"]
    assert (REPO / release["chartPath"] / "Chart.yaml").is_file()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    templates = release["setValueTemplates"]
    images = {_sanitized(a["image"]) for a in skaffold["build"]["artifacts"]}
    for key, template in templates.items():
        assert _value_exists(values, key), f"{key} is not a chart value"
        for name in re.findall(r"\{\{\.IMAGE_(?:REPO|TAG|DIGEST)_(\w+)\}\}", template):
            assert name in images, f"{template} names no artifact"
    assert templates["image.tag"] == "{{.IMAGE_TAG_kubeloop}}@{{.IMAGE_DIGEST_kubeloop}}"
    # Each model-server runtime gets the image built for it, pinned the same way.
    runtimes = {a["docker"].get("buildArgs", {}).get("RUNTIME"): _sanitized(a["image"])
                for a in skaffold["build"]["artifacts"]}
    for value, runtime in (("servingImage", "kserve"), ("bentoImage", "bentoml")):
        artifact = runtimes[runtime]
        assert templates[f"{value}.repository"] == f"{{{{.IMAGE_REPO_{artifact}}}}}"
        assert templates[f"{value}.tag"] == f"{{{{.IMAGE_TAG_{artifact}}}}}@{{{{.IMAGE_DIGEST_{artifact}}}}}"


def test_skaffold_profiles(skaffold: dict[str, Any]) -> None:
    profiles = {p["name"]: p for p in skaffold["profiles"]}
    assert {"dev", "gateway", "kserve", "istio", "gateway-api"} <= set(profiles)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for profile in profiles.values():
        for patch in profile["patches"]:
            if patch["path"].endswith("/setValues"):
                assert all(_value_exists(values, key) for key in patch["value"]), profile["name"]
            if patch["path"].endswith("/valuesFiles"):
                assert all((REPO / f).is_file() for f in patch["value"]), profile["name"]


def test_dev_profile_syncs_python_sources_into_the_installed_package(skaffold: dict[str, Any]) -> None:
    (sync,) = [p["value"] for p in next(p for p in skaffold["profiles"] if p["name"] == "dev")["patches"]
               if p["path"].endswith("/sync")]
    python = re.search(r"python3\.\d+", (REPO / "Dockerfile").read_text()).group(0)
    sources = [str(p.relative_to(REPO)) for p in REPO.glob("**/*.py") if ".tools" not in p.parts]
    for rule in sync["manual"]:
        assert rule["dest"].startswith(f"/opt/venv/lib/{python}/site-packages/kubeloop")
        matched = [s for s in sources if fnmatch.fnmatch(s, rule["src"].replace("**/", "*"))]
        assert matched, f"{rule['src']} matches no file"
        assert all(s.startswith(rule["strip"]) for s in matched)
    assert re.search(r"FROM runtime AS dev", (REPO / "Dockerfile").read_text())
