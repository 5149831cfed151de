"""`kubeloop deploy`, `predict` and `serve status|stop`: local model servers behind the gateway."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from kubeloop.cli.output import console, print_json, print_table, step
from kubeloop.errors import BackendUnavailable, KubeloopError
from kubeloop.settings import load_settings

serve_app = typer.Typer(help="Local model servers and the gateway: status and stop.")


def deploy(
    file: Annotated[Path, typer.Argument(help="A ModelDeployment YAML file.")],
    gateway_port: Annotated[int, typer.Option("--gateway-port", help="Gateway port if it must start.")] = 0,
    output_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Start a model server for the deployment's stable version and route the gateway to it."""
    from kubeloop.local.deploy import deploy_version
    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.spec import load_deployment

    spec = load_deployment(file)
    settings = load_settings().ensure_dirs()
    model = spec.spec.model
    registry = MlflowRegistry.from_settings(settings)
    version = registry.resolve(model.version or model.alias, name=model.name).version
    serving = spec.spec.serving
    with step(f"starting {serving.runtime} server for {model.name} version {version} and the gateway"):
        server, gateway = deploy_version(settings, spec, version=version, gateway_port=gateway_port)
    result = {"deployment": spec.name, "model": model.name, "version": version, "runtime": serving.runtime,
              "server": server.url, "gateway": gateway.url,
              "predict_url": f"{gateway.url}/v1/models/{spec.name}:predict"}
    if output_json:
        print_json(result)
    else:
        console.print(f"{spec.name}: {model.name} v{version} on {server.url}, "
                      f"predict at {result['predict_url']}", highlight=False)


def predict(
    deployment: Annotated[str, typer.Argument(help="The deployment to send the request to.")],
    body: Annotated[str | None, typer.Option("--json", help="The request body (JSON).")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Read the request body from a file.")] = None,
    v2: Annotated[bool, typer.Option("--v2", help="Send to the V2 (Open Inference Protocol) route.")] = False,
) -> None:
    """Send a prediction request through the gateway and print the answer."""
    import httpx

    from kubeloop.local import processes

    settings = load_settings()
    payload = _request_body(body, file)
    gateway = processes.gateway_record(settings)
    if gateway is None:
        raise BackendUnavailable("the gateway is not running; start it with `kubeloop deploy <file>`")
    path = f"/v2/models/{deployment}/infer" if v2 else f"/v1/models/{deployment}:predict"
    try:
        response = httpx.post(gateway.url + path, content=payload,
                              headers={"content-type": "application/json"}, timeout=30)
    except httpx.HTTPError as error:
        raise BackendUnavailable(f"gateway at {gateway.url} unreachable: {error}") from None
    answer = _json_or_text(response)
    if response.status_code != 200:
        message = answer.get("error", answer) if isinstance(answer, dict) else answer
        raise KubeloopError(f"{deployment}: {response.status_code} {message}")
    print_json(answer)


def _request_body(body: str | None, file: Path | None) -> bytes:
    if (body is None) == (file is None):
        raise KubeloopError("give the request body with exactly one of --json or --file")
    text = body if body is not None else _read(file)
    try:
        json.loads(text)
    except ValueError as error:
        raise KubeloopError(f"the request body is not valid JSON: {error}") from None
    return text.encode()


def _read(file: Path | None) -> str:
    assert file is not None
    try:
        return file.read_text()
    except OSError as error:
        raise KubeloopError(f"{file}: {error.strerror}") from None


def _json_or_text(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


@serve_app.command("status")
def status(output_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show local deployments, their servers as a request would reach them, and the traffic shares."""
    from kubeloop.local import processes
    from kubeloop.local.reachability import COLUMNS, status_rows

    settings = load_settings()
    rows = [row.cells() for row in status_rows(settings)]
    gateway = processes.gateway_record(settings)
    if output_json:
        print_json({"gateway": gateway.url if gateway else None,
                    "servers": [dict(zip(COLUMNS, row, strict=True)) for row in rows]})
        return
    print_table(f"gateway: {gateway.url if gateway else 'not running'}", list(COLUMNS), rows)


@serve_app.command("stop")
def stop(
    deployment: Annotated[str | None, typer.Argument(help="Stop this deployment's servers.")] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Stop every server, the gateway and the supervisor.")
    ] = False,
) -> None:
    """Stop local model servers (and with --all the gateway and the supervisor)."""
    from kubeloop.local import processes
    from kubeloop.local.supervisor_process import stop_supervisor

    settings = load_settings()
    if deployment is None and not everything:
        raise KubeloopError("name a deployment or pass --all")
    if everything and stop_supervisor(settings) is not None:
        console.print("stopped the supervisor")
    names = processes.deployed_names(settings) if everything else [deployment or ""]
    for name in names:
        for record in processes.stop_deployment(settings, name):
            console.print(f"stopped {name} version {record.version} (pid {record.pid})", highlight=False)
    if everything:
        processes.stop_gateway(settings)
        console.print("stopped the gateway")


def register(app: typer.Typer) -> None:
    """Add deploy, predict and the serve group to the CLI."""
    app.command("deploy")(deploy)
    app.command("predict")(predict)
    app.add_typer(serve_app, name="serve")
