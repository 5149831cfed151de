"""`kubeloop pipeline run|submit|compile|list`: run pipelines with kfp.local, submit them to a runner,
compile them to KFP IR YAML.

A pipeline is a built-in name (`training`), a name from the project's `kubeloop.yaml`, a
`path/to/file.py[:function]` or a `package.module:function`. Exit codes of `pipeline run`: 0 when
the pipeline ran to the end, whether or not the quality gate let the model in (a refused model is an
expected outcome; the reason is printed, and `--json` carries `"passed": false`); 1 for bad input or
a failed task, as one line naming the cause.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kubeloop.cli.output import console, print_json, print_table
from kubeloop.errors import KubeloopError

pipeline_app = typer.Typer(help="Run, compile and list kubeloop pipelines (KFP v2).", no_args_is_help=True)


def parse_params(pairs: list[str]) -> dict[str, str]:
    """`key=value` pairs into a dict of strings; the pipeline's signature gives each its type."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise KubeloopError(f"--param expects key=value, got {pair!r}")
        params[key.strip()] = value
    return params


PipelineArg = Annotated[
    str,
    typer.Argument(
        help="A pipeline: built-in or project name (`kubeloop pipeline list`), path/to/file.py[:function] "
        "or package.module:function."
    ),
]
ParamOption = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="A parameter as key=value (repeatable).")
]


@pipeline_app.command("run")
def run_command(
    name: PipelineArg = "training",
    param: ParamOption = None,
    data: Annotated[str | None, typer.Option(help="CSV or Parquet path or URI; default: iris.")] = None,
    target: Annotated[str | None, typer.Option(help="The target column.")] = None,
    estimator: Annotated[
        str | None, typer.Option(help="logistic (or linear), random_forest, gradient_boosting.")
    ] = None,
    hyperparams: Annotated[
        str | None, typer.Option(help='Estimator hyperparameters as JSON, e.g. {"C": 0.5}.')
    ] = None,
    model_name: Annotated[str | None, typer.Option("--model-name", help="Registered model name.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the run.")] = 1800.0,
    output_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Run a pipeline locally (kfp.local) and report its outcome; a model registers only past the gate."""
    from kubeloop.pipelines import runner

    params = parse_params(param or [])
    shortcuts = {"data": data, "target": target, "estimator": estimator, "hyperparams": hyperparams}
    params.update({k: v for k, v in {**shortcuts, "model_name": model_name}.items() if v is not None})
    local = runner()
    started = local.submit(name, params)
    console.print(
        f"pipeline run [bold]{started.run_id}[/] (log: {local.log_path(started)})",
        highlight=False,
        soft_wrap=True,
    )
    status = _follow(local, started, timeout=timeout)
    if status.state != "succeeded":
        message = status.message or f"still running after {timeout:.0f}s"
        raise KubeloopError(f"pipeline {name} {status.state}: {message} (log: {local.log_path(started)})")
    if output_json:
        print_json({"run_id": started.run_id, "state": status.state, **status.outputs})
        return
    show_outcome(dict(status.outputs))


def show_outcome(outcome: dict[str, Any]) -> None:
    """Print a training outcome for people: registered version and alias, or why not."""
    if not outcome:
        console.print("the pipeline finished", highlight=False)
        return
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in sorted(outcome.get("metrics", {}).items()))
    if outcome.get("passed"):
        console.print(
            f"[green]registered[/] {outcome['model']} version {outcome['version']} ({metrics})\n"
            f"  quality gate passed: {outcome['reason']}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            f"[yellow]not registered[/]: the quality gate refused the model ({metrics})\n"
            f"  reason: {outcome['reason']}",
            highlight=False,
            soft_wrap=True,
        )


@pipeline_app.command("submit")
def submit_command(
    name: PipelineArg,
    param: ParamOption = None,
    backend: Annotated[str, typer.Option(help="local (kfp.local), kfp (a KFP API) or argo.")] = "local",
    host: Annotated[str, typer.Option(help="The KFP API or Argo server URL.")] = "",
    namespace: Annotated[str, typer.Option(help="Argo: the namespace to run in.")] = "kubeloop",
    image: Annotated[str, typer.Option(help="Argo: the kubeloop image the step runs in.")] = "",
    output_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
) -> None:
    """Check the parameters and start a run on a runner; returns at once with the run id."""
    from kubeloop.pipelines import runner_for

    started = runner_for(backend, host=host, namespace=namespace, image=image).submit(
        name, parse_params(param or [])
    )
    if output_json:
        print_json({"run_id": started.run_id, "pipeline": started.pipeline, "backend": backend})
        return
    console.print(
        f"submitted {started.pipeline} as run [bold]{started.run_id}[/] ({backend})", highlight=False
    )


@pipeline_app.command("compile")
def compile_command(
    name: PipelineArg = "training",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the IR YAML (default: <name>.yaml).")
    ] = None,
) -> None:
    """Compile a pipeline to KFP IR YAML for a Kubeflow Pipelines cluster."""
    from kubeloop.pipelines import compile as compile_pipeline
    from kubeloop.pipelines.catalog import get_pipeline

    path = compile_pipeline(name, output or Path(f"{get_pipeline(name).name}.yaml"))
    console.print(f"wrote {path}", highlight=False)


@pipeline_app.command("list")
def list_command(
    output_json: Annotated[bool, typer.Option("--json", help="Print pipelines and runs as JSON.")] = False,
    limit: Annotated[int, typer.Option(help="How many recent runs to show.")] = 10,
) -> None:
    """List the built-in pipelines, those of the project's kubeloop.yaml, and the most recent local runs."""
    from kubeloop.pipelines import list_pipelines, runner

    runs = runner().runs()[:limit]
    rows = [
        (run.run_id, run.pipeline, status.state, _summary(status.outputs) or status.message)
        for run, status in runs
    ]
    if output_json:
        print_json(
            {
                "pipelines": [{"name": n, "description": d} for n, d in list_pipelines()],
                "runs": [
                    dict(zip(("run_id", "pipeline", "state", "summary"), row, strict=True)) for row in rows
                ],
            }
        )
        return
    print_table("Pipelines", ("name", "steps"), list_pipelines())
    print_table("Recent runs", ("run", "pipeline", "state", "outcome"), rows)


def _follow(local: Any, started: Any, *, timeout: float) -> Any:
    """Wait for the run with a spinner naming the current task and a tick per finished task."""
    done: list[str] = []
    with console.status("starting...") as spinner:

        def progress(status: Any) -> None:
            task = status.message.removeprefix("running ") if status.message.startswith("running ") else None
            if task and task not in done:
                if done:
                    console.print(f"[green]✓[/] {done[-1]}", highlight=False)
                done.append(task)
                spinner.update(f"{task}...")

        final = local.wait(started, timeout=timeout, on_progress=progress)
    if done:
        mark = "[green]✓[/]" if final.state == "succeeded" else "[red]✗[/]"
        console.print(f"{mark} {done[-1]}", highlight=False)
    return final


def _summary(outputs: Any) -> str:
    if not outputs:
        return ""
    if outputs.get("passed"):
        return f"registered {outputs.get('model')} v{outputs.get('version')}"
    return f"not registered: {outputs.get('reason', '')}"


def register(app: typer.Typer) -> None:
    """Add the `pipeline` command group."""
    app.add_typer(pipeline_app, name="pipeline")
