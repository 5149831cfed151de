"""`kubeloop k8s rollout promote|rollback|status`: a ModelDeployment's rollout in a cluster, by hand.

A thin layer over `kubeloop.k8s.client_commands`: the command goes to the operator through the object's
command annotation, and the operator's answer decides the exit code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from kubeloop.cli.output import console, fail, print_json, print_table, stdout

if TYPE_CHECKING:
    from kubeloop.k8s.rollout_view import RolloutView

k8s_rollout_app = typer.Typer(
    help="Promote or roll back a ModelDeployment's rollout by hand (through the operator), and show it."
)

EXIT_REFUSED = 3
EXIT_TIMEOUT = 4
EXITS = (
    "Exit codes: 0 the operator carried it out (Done); 3 the operator refused it (Refused, the message says "
    "why); 4 no answer within --timeout (the command stays given); 1 any other error (no such "
    "ModelDeployment, the API out of reach, RBAC refused)."
)

Namespace = Annotated[
    str | None, typer.Option("-n", "--namespace", help="Its namespace (default: the kubeconfig context's).")
]
Reason = Annotated[
    str, typer.Option("--reason", help="Why; kept in the rollout's history (a rollback's on the version).")
]
Wait = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for the operator's answer in status.lastCommand.")
]
Timeout = Annotated[float, typer.Option("--timeout", min=0.0, help="Seconds to wait for the answer.")]


def _add_command(action: str, summary: str) -> None:
    """Register `promote` or `rollback`: the same options, the operator's answer as the exit code."""

    @k8s_rollout_app.command(action, help=f"{summary}\n\n{EXITS}")
    def command(
        deployment: Annotated[str, typer.Argument(help="The ModelDeployment.")],
        namespace: Namespace = None,
        reason: Reason = "",
        wait: Wait = True,
        timeout: Timeout = 120.0,
    ) -> None:
        _give(action, deployment, namespace=namespace, reason=reason, wait=wait, timeout=timeout)


_add_command("promote", "Skip the remaining steps: the challenger takes every request and becomes champion.")
_add_command("rollback", "Send every request back to the champion at once; aliases stay as they were.")


@k8s_rollout_app.command("status")
def status(
    deployment: Annotated[str, typer.Argument(help="The ModelDeployment.")],
    namespace: Namespace = None,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Phase, where the traffic goes, champion and challenger, checks and the last by-hand command."""
    from kubeloop.k8s.client_commands import rollout_status

    view = rollout_status(deployment, namespace=namespace)
    if as_json:
        print_json(view.to_dict())
        return
    for line in status_lines(view):
        stdout.print(line, highlight=False, soft_wrap=True)
    if view.checks:
        rows = [(c.get("name"), c.get("result"), c.get("value"), c.get("threshold"), c.get("message", ""))
                for c in view.checks]
        print_table("checks", ["check", "result", "value", "threshold", "message"], rows)


def status_lines(view: RolloutView) -> list[str]:
    """The status report, line by line."""
    traffic = ", ".join(f"v{version} {percent}%" for version, percent in view.weights().items()) or "none"
    lines = [f"{view.deployment} in {view.namespace}: {view.phase}, step {view.step}", f"traffic: {traffic}"]
    if view.routes is not None and view.routes.shadow is not None:
        lines.append(f"shadow: {view.routes.shadow_percent}% mirrored to v{view.routes.shadow}")
    roles = f"champion v{view.champion}" if view.champion else "no champion yet"
    if view.challenger:
        roles += f", challenger v{view.challenger}"
    if view.previous:
        roles += f" (previous champion v{view.previous})"
    lines.append(roles)
    if view.last_decision:
        lines.append(f"last decision: {view.last_decision.get('action')}: {view.last_decision.get('reason')}")
    if view.last_command:
        last = view.last_command
        lines.append(f"last command: {last.get('action')} {last.get('id')} {last.get('result')} at "
                     f"{last.get('time')}: {last.get('message')}")
    if view.pending_command:
        pending = view.pending_command
        lines.append(f"pending command: {pending['action']} {pending['id']} (the operator has not answered)")
    return lines


def _give(action: str, deployment: str, *, namespace: str | None, reason: str, wait: bool,
          timeout: float) -> None:
    from kubeloop.k8s.client_commands import CommandTimeout, give

    try:
        with console.status(f"{action} {deployment}: waiting for the operator's answer..."):
            outcome = give(deployment, action=action, namespace=namespace, reason=reason, wait=wait,
                           timeout=timeout)
    except CommandTimeout as error:
        fail(str(error), code=EXIT_TIMEOUT)
    where = f"{deployment!r} in {outcome.namespace}"
    if outcome.result is None:
        console.print(f"{action} command {outcome.id} given to {where}; follow it with "
                      f"`kubeloop k8s rollout status {deployment} -n {outcome.namespace}`", highlight=False,
                      soft_wrap=True)
        return
    console.print(f"{action} of {where}: {outcome.result}: {outcome.message}", highlight=False,
                  soft_wrap=True)
    if not outcome.done:
        raise typer.Exit(EXIT_REFUSED)


def register(app: typer.Typer) -> None:
    """Add `rollout` under `kubeloop k8s`."""
    app.add_typer(k8s_rollout_app, name="rollout")
