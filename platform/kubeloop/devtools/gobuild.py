"""Builds the test control plane from the Go modules pinned in tests/cluster/modules, once per set of pins.

Three modules, because their dependency graphs clash: `kube` (kube-apiserver, kube-controller-manager,
kube-scheduler and kubectl from k8s.io/kubernetes, whose staging modules its generated `replace` lines
pin), `etcd` (go.etcd.io/etcd/server/v3) and `kwok` (sigs.k8s.io/kwok). The binaries land in a cache
folder outside the source tree, named by a hash of every go.mod and go.sum, the Go version and the build
flags, so a checkout, a worktree or CI on the same machine reuse one build while the pins are unchanged;
`.tools/bin` gets symbolic links to them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kubeloop.devtools import gopins, progress
from kubeloop.devtools.progress import Log
from kubeloop.devtools.tools import ToolMissing, source_root, tools_dir
from kubeloop.errors import KubeloopError

CACHE_ENV = "KUBELOOP_CACHE_DIR"
BUILD_FLAGS = ("-trimpath",)
STRIP = "-s -w"  # no symbol table or DWARF: smaller binaries, a shorter link
DONE = "build.json"
KWOK_STAGES = "kwok-stages.yaml"
# kwok's own node and pod stages (what `kwokctl` configures): nodes become Ready and keep their lease
# renewed; pods on them become Running and Ready, finish, and go away when deleted.
STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)


@dataclass(frozen=True)
class GoModule:
    """One module under tests/cluster/modules, the upstream module it pins, and the main packages built
    from it, one binary each."""

    folder: str
    source: str
    binaries: dict[str, str]  # binary name -> main package


MODULES = (
    GoModule("kube", "k8s.io/kubernetes", {name: f"k8s.io/kubernetes/cmd/{name}" for name in
                                           ("kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                            "kubectl")}),
    GoModule("etcd", "go.etcd.io/etcd/server/v3", {"etcd": "go.etcd.io/etcd/server/v3"}),
    GoModule("kwok", "sigs.k8s.io/kwok", {"kwok": "sigs.k8s.io/kwok/cmd/kwok"}),
)
BINARIES = tuple(name for module in MODULES for name in module.binaries)


def modules_dir() -> Path:
    """tests/cluster/modules of the source tree; raises when kubeloop runs from an installed wheel."""
    folder = source_root() / "tests" / "cluster" / "modules"
    if not folder.is_dir():
        raise ToolMissing(f"{folder} is missing: the test control plane is built from a kubeloop source tree")
    return folder


def cache_root() -> Path:
    """$KUBELOOP_CACHE_DIR, else $XDG_CACHE_HOME/kubeloop, else ~/.cache/kubeloop; then control-plane/."""
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "kubeloop")
    return Path(base).expanduser() / "control-plane"


def go_version() -> str:
    """The installed Go's version (part of the cache key: another compiler is another build)."""
    go = shutil.which("go")
    if go is None:
        raise ToolMissing("go not found on PATH: the test control plane is built from Go modules (Go 1.26)")
    result = subprocess.run([go, "env", "GOVERSION", "GOOS", "GOARCH"], capture_output=True, text=True,
                            check=True, env=_go_env())
    return " ".join(result.stdout.split())


def build_key(*, folder: Path, go: str) -> str:
    """A hash of what decides the binaries: every go.mod and go.sum, the Go version, the build flags."""
    digest = hashlib.sha256(json.dumps([go, BUILD_FLAGS, STRIP, STAGE_FILES]).encode())
    for module in MODULES:
        for name in ("go.mod", "go.sum"):
            digest.update((folder / module.folder / name).read_bytes())
    return digest.hexdigest()[:16]


def version_ldflags(*, tag: str, build_date: str) -> list[str]:
    """The -X flags hack/lib/version.sh gives a release build, for component-base and client-go alike."""
    major, minor = tag.removeprefix("v").split(".")[:2]
    values = {"gitVersion": tag, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean",
              "buildDate": build_date}
    return [f"-X k8s.io/{package}/version.{key}={value}"
            for key, value in values.items()
            for package in ("client-go/pkg", "component-base")]


def build_command(module: GoModule, *, out: Path, ldflags: list[str]) -> list[str]:
    """One `go build` for every main package of a module, so they share compilation (-v: progress)."""
    target = str(out / next(iter(module.binaries))) if len(module.binaries) == 1 else f"{out}/"
    return ["go", "build", "-v", *BUILD_FLAGS, "-ldflags", " ".join([STRIP, *ldflags]), "-o", target,
            *module.binaries.values()]


def _module_info(module_dir: Path, path: str) -> dict[str, str]:
    """`go list -m -json` of one dependency: its version, release time and folder in the module cache."""
    result = subprocess.run(["go", "list", "-m", "-json", path], cwd=module_dir, capture_output=True,
                            text=True, check=False, env=_go_env())
    if result.returncode != 0:
        raise KubeloopError(f"go list -m {path} failed: {result.stderr.strip()[-300:]}")
    info: dict[str, str] = json.loads(result.stdout)
    return info


def kubernetes_release(kube_module: Path) -> dict[str, str]:
    """The pinned k8s.io/kubernetes tag and its release time (buildDate, as SOURCE_DATE_EPOCH would
    give: the same pins make the same binaries)."""
    info = _module_info(kube_module, gopins.KUBERNETES)
    return {"tag": info["Version"], "build_date": info["Time"]}


def _go_env() -> dict[str, str]:
    """The go command's environment: modules read-only, and the installed Go unless GOTOOLCHAIN names one
    (no silent toolchain download because a dependency asks for a newer Go)."""
    return {**os.environ, "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local"),
            "GOFLAGS": "-mod=readonly -buildvcs=false"}


def _build_module(module: GoModule, *, folder: Path, out: Path, log: Log) -> float:
    """Build one module's binaries into `out`; returns the seconds it took."""
    ldflags: list[str] = []
    if module.folder == "kube":
        ldflags = version_ldflags(**kubernetes_release(folder))
    started = time.monotonic()
    progress.run_go_build(build_command(module, out=out, ldflags=ldflags), cwd=folder, env=_go_env(),
                          label=f"{module.folder} ({', '.join(module.binaries)})", log=log)
    return time.monotonic() - started


def write_kwok_stages(*, folder: Path, out: Path) -> Path:
    """Concatenate kwok's own stage files, from the pinned kwok module, into one kwok --config file."""
    kwok_dir = Path(_module_info(folder / "kwok", "sigs.k8s.io/kwok")["Dir"])
    documents = [(kwok_dir / name).read_text().strip() for name in STAGE_FILES]
    target = out / KWOK_STAGES
    target.write_text("\n---\n".join(documents) + "\n")
    return target


def built_dir(*, folder: Path | None = None) -> Path:
    """The cache folder for the current pins (it may not be built yet)."""
    folder = folder or modules_dir()
    return cache_root() / build_key(folder=folder, go=go_version())


def control_plane_bin_dir() -> Path:
    """The built binaries for the current pins; raises ToolMissing saying to run `make install`."""
    target = built_dir()
    if not (target / DONE).is_file():
        raise ToolMissing(f"the test control plane is not built for the current pins ({target}): "
                          f"run `make install` (or `python -m kubeloop.devtools install`)")
    return target


def _build_all(*, folder: Path, target: Path, log: Log) -> None:
    """Build every module into a fresh sibling folder, then move it into place in one rename."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    seconds = {m.folder: round(_build_module(m, folder=folder / m.folder, out=partial, log=log), 1)
               for m in MODULES}
    write_kwok_stages(folder=folder, out=partial)
    record = {"go": go_version(), "seconds": seconds,
              "pins": {m.source: gopins.required_version((folder / m.folder / "go.mod").read_text(), m.source)
                       for m in MODULES}}
    (partial / DONE).write_text(json.dumps(record, indent=2) + "\n")
    partial.rename(target)


def link_binaries(*, source: Path, dest: Path) -> None:
    """Point dest/<binary> at source/<binary> for every binary (replacing what was there)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in BINARIES:
        link = dest / f".{name}.link"
        link.unlink(missing_ok=True)
        link.symlink_to(source / name)
        link.replace(dest / name)


def ensure_control_plane(*, log: Log) -> Path:
    """Build the control plane when the cache has no build for the current pins; link it into .tools/bin."""
    folder = modules_dir()
    target = built_dir(folder=folder)
    if not (target / DONE).is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with progress.file_lock(target.parent / ".lock", log=log):  # one build per machine at a time
            if not (target / DONE).is_file():
                log(f"control plane: building {', '.join(BINARIES)} into {target} "
                    "(cold: tens of minutes on 2 cores; reused while tests/cluster/modules is unchanged)")
                _build_all(folder=folder, target=target, log=log)
    link_binaries(source=target, dest=tools_dir() / "bin")
    log(f"control plane: {target} (linked into {tools_dir() / 'bin'})")
    return target
