"""The demo's closing table: every decision the loop took, with its reason, from what the parts recorded.

Pure functions from plain records (version tags, drift outcomes, rollout states) to table rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kubeloop.analysis.results import Verdict
from kubeloop.drift.job import JobOutcome
from kubeloop.registry.names import TAG_GATE_REASON, TAG_GATE_VERDICT
from kubeloop.rollout.state import RolloutState

COLUMNS = ("stage", "subject", "decision", "reason")


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One row of the summary: which part decided what about which version, and why."""

    stage: str
    subject: str
    decision: str
    reason: str

    def row(self) -> tuple[str, str, str, str]:
        """The table cells in COLUMNS order."""
        return (self.stage, self.subject, self.decision, self.reason)


def gate_decision(*, version: str, tags: Mapping[str, str]) -> Decision:
    """The training gate's verdict recorded on a version's tags."""
    return Decision(
        stage="training gate",
        subject=f"v{version}",
        decision=tags.get(TAG_GATE_VERDICT, "not gated"),
        reason=tags.get(TAG_GATE_REASON, "registered without the training pipeline"),
    )


def drift_decision(*, label: str, outcome: JobOutcome) -> Decision:
    """A drift check's verdict and what the retrain policy made of it."""
    result, decision = outcome.result, outcome.decision
    fired = decision is not None and decision.fire
    policy = decision.reason if decision is not None else "no policy decision"
    return Decision(
        stage=f"drift check ({label})",
        subject=f"v{outcome.version}",
        decision=f"{result.status}: {'retrain' if fired else 'no retrain'}",
        reason=f"{result.reason}; {policy}",
    )


def quality_decision(*, label: str, outcome: JobOutcome) -> Decision | None:
    """The champion's online quality from labels, against its own holdout figure, as the check read it."""
    reading = outcome.quality
    if reading is None:
        return None
    trigger = outcome.decision.reason if outcome.decision is not None else ""
    verdict = "dropped" if "quality drop" in trigger else "holds"
    return Decision(
        stage=f"online quality ({label})",
        subject=f"v{outcome.version}",
        decision=f"{reading.metric} {reading.value:.2f}: {verdict}",
        reason=reading.shown(),
    )


def retrain_decision(*, outcome: JobOutcome) -> Decision | None:
    """The retrain the drift check started: what fired it, what it trained on, version, rollout."""
    trail = outcome.trail
    if trail is None:
        return None
    return Decision(
        stage=f"retrain ({trail.trigger})",
        subject=f"run {trail.run_id}",
        decision=f"{trail.run_state}: v{trail.model_version}",
        reason=f"trained on {trail.trained_on()}; {trail.reason}; rollout: {trail.rollout or 'not started'}",
    )


def rollout_decisions(state: RolloutState) -> list[Decision]:
    """One row per analysis decision of a rollout (holds folded into the step they waited on), and the
    first verdict of its quality check (the paired comparison on labeled requests) before the decision
    it was part of."""
    rows: list[Decision] = []
    judged = False
    for entry in state.history:
        quality = [c for c in entry.checks if c.kind == "quality" and c.verdict != Verdict.INCONCLUSIVE]
        if quality and not judged:
            judged = True
            rows.append(Decision(stage="quality check (paired)", subject=f"v{state.challenger}",
                                 decision=quality[0].verdict.value, reason=quality[0].reason))
        if entry.kind == "hold":
            continue
        rows.append(
            Decision(
                stage=f"rollout ({entry.phase.value})",
                subject=f"v{state.challenger}",
                decision=f"{entry.kind} {entry.weight}%",
                reason=entry.reason,
            )
        )
    return rows


def alias_decision(*, aliases: Mapping[str, str]) -> Decision:
    """Where the registry's aliases ended."""
    return Decision(
        stage="registry",
        subject="aliases",
        decision=", ".join(f"{alias}=v{version}" for alias, version in sorted(aliases.items())),
        reason="champion serves all traffic; previous is what a late rollback returns to",
    )


def table_rows(decisions: Sequence[Decision]) -> list[tuple[str, str, str, str]]:
    """The rows for print_table."""
    return [decision.row() for decision in decisions]
