"""The rollout report: traffic weight over time with each check's values and every decision marked."""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kubeloop.rollout.state import RolloutState

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_COLOURS = {"advance": "tab:blue", "promote": "tab:green", "rollback": "tab:red", "abort": "tab:orange"}


def render_png(state: RolloutState) -> bytes:
    """A figure: weight over time on top, one panel per check below with its threshold, decisions marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    checks = sorted({c.name for entry in state.history for c in entry.checks})
    fig, axes = plt.subplots(
        1 + len(checks), 1, figsize=(9, 2.4 + 1.8 * len(checks)), sharex=True, squeeze=False
    )
    times, weights = _weight_series(state)
    top = axes[0][0]
    top.step(times, weights, where="post", color="black")
    top.set_ylabel("challenger %")
    top.set_ylim(-5, 105)
    top.set_title(
        f"{state.deployment}: version {state.challenger} against {state.champion} ({state.phase.value})"
    )
    for index, name in enumerate(checks, start=1):
        _plot_check(axes[index][0], state, name)
    for row in axes:
        for entry in state.history:
            if entry.kind in _COLOURS:
                row[0].axvline(
                    entry.at - state.started_at, color=_COLOURS[entry.kind], linestyle="--", alpha=0.6
                )
    for entry in state.history:
        if entry.kind in _COLOURS:
            top.annotate(
                entry.kind,
                (entry.at - state.started_at, entry.weight),
                fontsize=8,
                color=_COLOURS[entry.kind],
                xytext=(3, 3),
                textcoords="offset points",
            )
    axes[-1][0].set_xlabel("seconds since start")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def render_html(state: RolloutState) -> str:
    """A self-contained page: the figure inline and a table of every decision with its checks."""
    image = base64.b64encode(render_png(state)).decode()
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}%</td><td>{}</td><td>{}</td></tr>".format(
            _clock(entry.at),
            entry.kind,
            entry.phase.value,
            entry.weight,
            html.escape(entry.reason),
            html.escape(
                "; ".join(
                    f"{c.name}={_fmt(c.value)} ({c.verdict.value}, <= {c.threshold:g})" for c in entry.checks
                )
            ),
        )
        for entry in state.history
    )
    title = html.escape(f"Rollout of {state.model} version {state.challenger} on {state.deployment}")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px;font-size:13px}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>{title}</h1><p>Outcome: <b>{state.phase.value}</b>, started {_clock(state.started_at)}.</p>"
        f"<img alt='traffic weight and checks over time' src='data:image/png;base64,{image}'>"
        "<table><tr><th>time</th><th>decision</th><th>phase</th><th>weight</th><th>reason</th><th>checks</th></tr>"
        f"{rows}</table></body></html>"
    )


def write_report(state: RolloutState, path: Path) -> Path:
    """Write the report as PNG or HTML, chosen by the file's suffix."""
    if path.suffix.lower() == ".png":
        path.write_bytes(render_png(state))
    elif path.suffix.lower() in (".html", ".htm"):
        path.write_text(render_html(state))
    else:
        raise ValueError(f"{path}: the report is written as .html or .png")
    return path


def _weight_series(state: RolloutState) -> tuple[list[float], list[int]]:
    first = state.history[0].at if state.history else state.started_at
    times, weights = [0.0], [0 if state.spec.shadow is not None else state.spec.canary.steps[0]]
    for entry in state.history:
        times.append(entry.at - state.started_at)
        weights.append(entry.weight)
    end = max(times[-1], first - state.started_at) + 1.0
    times.append(end)
    weights.append(weights[-1])
    return times, weights


def _plot_check(axis: Axes, state: RolloutState, name: str) -> None:
    points = [(e.at - state.started_at, c) for e in state.history for c in e.checks if c.name == name]
    xs = [t for t, c in points if c.value is not None]
    ys = [c.value for _, c in points if c.value is not None]
    colours = [
        {"pass": "tab:green", "fail": "tab:red"}.get(c.verdict.value, "tab:gray")
        for _, c in points
        if c.value is not None
    ]
    axis.plot(xs, ys, color="tab:gray", linewidth=1)
    axis.scatter(xs, ys, c=colours, zorder=3, s=18)
    if points:
        axis.axhline(points[-1][1].threshold, color="tab:red", linewidth=0.8, linestyle=":")
    axis.set_ylabel(name, fontsize=8)


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
