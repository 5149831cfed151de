"""`python -m kubeloop.devtools`: install the test tools, find one, pin Kubernetes, run a test cluster,
link the source tree for the checkers and print the code's shape."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from kubeloop.devtools import find_tool, gobuild, gopins, install, sourcetree
from kubeloop.devtools.cluster import NODES, ControlPlane, start
from kubeloop.devtools.cluster.start import BIN_DIR_RECORD
from kubeloop.devtools.tools import ensure_apt_tool
from kubeloop.errors import KubeloopError
from kubeloop.settings import load_settings

LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"  # click exits


def _parser() -> argparse.ArgumentParser:
    """The commands and their options."""
    parser = argparse.ArgumentParser(prog="python -m kubeloop.devtools")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("install", help="install every test tool; build the test control plane when missing")
    commands.add_parser("install-bench", help="install wrk, the load generator of bench/bench_serving.py")
    which = commands.add_parser("which", help="print where a tool is")
    which.add_argument("name")
    pin = commands.add_parser("pin-kubernetes", 
                               help="regenerate the staging replace lines of the kube module")
    pin.add_argument("tag", nargs="?", help="a k8s.io/kubernetes release (default: the one go.mod requires)")
    cluster = commands.add_parser("cluster", help="a test control plane on loopback, for people")
    cluster.add_argument("action", choices=["up", "down"])
    cluster.add_argument("--dir", type=Path, default=load_settings().home / "cluster",
                         help="the state folder (default: $KUBELOOP_HOME/cluster)")
    cluster.add_argument("--nodes", type=int, default=NODES, help="fake kwok nodes (up)")
    commands.add_parser("source-tree", help=f"link the package as the wheel has it into {sourcetree.TREE}")
    commands.add_parser("lint-imports", help="check the import contracts of pyproject.toml (import-linter)")
    commands.add_parser("shape", help="which kubeloop packages import which; functions and modules too long")
    return parser


def _on_tree(*args: str) -> int:
    """Run Python with the link tree first on its path: grimp finds kubeloop.serving only there."""
    tree = sourcetree.build(project=Path.cwd())
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    return subprocess.run([sys.executable, *args], env=env, check=False).returncode


def _cluster(action: str, *, root: Path, nodes: int) -> None:
    """`up` starts a detached control plane and says how to use it; `down` stops it and removes its folder."""
    if action == "up":
        plane = start(root=root, nodes=nodes, detach=True)
        print(f"kubeconfig: {plane.kubeconfig}\n"
              f"  export KUBECONFIG={plane.kubeconfig}\n"
              f"  {plane.bin_dir / 'kubectl'} get nodes\n"
              f"logs: {plane.layout.logs}\nstop: python -m kubeloop.devtools cluster down --dir {root}")
        return
    record = root / BIN_DIR_RECORD
    if not record.is_file():
        raise KubeloopError(f"no control plane under {root}")
    stopped = ControlPlane.load(root, bin_dir=Path(record.read_text().strip())).stop()
    print(f"stopped {', '.join(stopped) or 'nothing (no process was running)'}; removing {root}")
    shutil.rmtree(root)


def main(argv: list[str] | None = None) -> int:
    """Run one command; a setup failure is one line on stderr and exit status 1."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "install":
            install()
        elif args.command == "install-bench":
            ensure_apt_tool("wrk", "wrk", log=print)
        elif args.command == "which":
            print(find_tool(args.name))
        elif args.command == "pin-kubernetes":
            tag = gopins.pin_kubernetes(module_dir=gobuild.modules_dir() / "kube", tag=args.tag)
            print(f"tests/cluster/modules/kube/go.mod: {gopins.KUBERNETES} {tag}; "
                  "now run `go mod tidy` there")
        elif args.command == "source-tree":
            print(sourcetree.build(project=Path.cwd()))
        elif args.command == "lint-imports":
            return _on_tree("-c", LINT_IMPORTS)
        elif args.command == "shape":
            return _on_tree("-m", "kubeloop.devtools.codeshape")
        else:
            _cluster(args.action, root=args.dir.resolve(), nodes=args.nodes)
    except KubeloopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
