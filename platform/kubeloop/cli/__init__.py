"""The `kubeloop` command line: each command group lives in its own module and registers itself here.

Command modules import heavy libraries (mlflow, kfp, bentoml) inside their functions so that
`kubeloop --help` stays fast.
"""

from __future__ import annotations

import gc
import importlib
import sys

import typer
from typer.exceptions import TyperException

from kubeloop import __version__
from kubeloop.cli.output import fail
from kubeloop.errors import KubeloopError

# Modules that define `register(app)`; a module per command group.
COMMAND_MODULES: tuple[str, ...] = (
    "kubeloop.cli.pipeline",
    "kubeloop.cli.models",
    "kubeloop.cli.platform",
    "kubeloop.cli.rollout",
    "kubeloop.cli.serve",
    "kubeloop.cli.drift",
    "kubeloop.cli.k8s",
    "kubeloop.cli.labels",
    "kubeloop.cli.quality",
)

app = typer.Typer(
    name="kubeloop",
    help="Train, register, serve, roll out and monitor models in one loop, locally or on Kubernetes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback when a command fails."),
) -> None:
    """kubeloop: the MLOps loop from training to production and back."""


@app.command()
def version() -> None:
    """Print kubeloop's version."""
    typer.echo(__version__)


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning KubeloopError into one line on stderr and exit code 1."""
    args = sys.argv[1:] if argv is None else argv
    try:
        _run(args)
    finally:
        if argv is None:  # the process's own entry point (tests call main with arguments)
            # At exit the interpreter runs full collections over every object the libraries left
            # (MLflow, pandas, pydantic: about a million): 3-15 s on a busy machine after the command
            # is done, which `rollout start --wait` would add to its return. Frozen objects are skipped.
            gc.freeze()


def _run(args: list[str]) -> None:
    try:
        # Without standalone mode click returns a command's typer.Exit code instead of exiting with it.
        code = app(args=args, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except KubeloopError as error:
        if "--debug" in args:
            raise
        fail(str(error))
    except typer.Abort:
        fail("aborted")
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except TyperException as error:  # usage errors: click's own message and exit code (2)
        show = getattr(error, "show", None)
        if show is None:
            fail(str(error))
        show()
        sys.exit(getattr(error, "exit_code", 2))
    except Exception as error:  # the CLI's last line of defence: one line, not a traceback
        if "--debug" in args:
            raise
        fail(f"{type(error).__name__}: {error} (run with --debug for the traceback)")
