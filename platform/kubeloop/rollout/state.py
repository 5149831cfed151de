"""The rollout's state: phase, step, weight, failure count and the history of decisions with their checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from kubeloop.analysis.results import CheckResult
from kubeloop.spec import RolloutSpec

SHADOW_STEP = -1


class Phase(StrEnum):
    """Where a rollout is; the last three are terminal."""

    SHADOW = "shadow"
    CANARY = "canary"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled-back"
    ABORTED = "aborted"

    @property
    def terminal(self) -> bool:
        """True once the rollout has ended and the controller has nothing left to do."""
        return self in (Phase.PROMOTED, Phase.ROLLED_BACK, Phase.ABORTED)


@dataclass(frozen=True, kw_only=True)
class HistoryEntry:
    """One decision as it was taken: when, what, why, where it left the rollout and the checks behind it."""

    at: float
    kind: str
    reason: str
    phase: Phase
    step: int
    weight: int
    failures: int
    checks: tuple[CheckResult, ...] = ()
    # When the decision's last route change took effect (None for holds and until it has).
    routed_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly mapping."""
        data = asdict(self)
        data["phase"] = self.phase.value
        data["checks"] = [check.to_dict() for check in self.checks]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryEntry:
        """Read back what `to_dict` wrote."""
        return cls(
            at=float(data["at"]),
            kind=str(data["kind"]),
            reason=str(data["reason"]),
            phase=Phase(data["phase"]),
            step=int(data["step"]),
            weight=int(data["weight"]),
            failures=int(data.get("failures", 0)),
            checks=tuple(CheckResult.from_dict(c) for c in data.get("checks", ())),
            routed_at=data.get("routed_at"),
        )


@dataclass(frozen=True, kw_only=True)
class RolloutState:
    """Everything the controller needs to resume a rollout exactly where it was."""

    deployment: str
    model: str
    champion: str
    challenger: str
    spec: RolloutSpec
    started_at: float
    phase: Phase
    step: int
    weight: int
    step_started_at: float
    failures: int = 0
    paired_samples: int = 0
    last_analysis_at: float | None = None
    # Actions decided but not yet confirmed done; a restarted controller replays them (they are idempotent).
    pending: tuple[dict[str, Any], ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    previous_warm_until: float | None = None
    revision: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """True once the rollout reached a terminal phase and every action is confirmed."""
        return self.phase.terminal and not self.pending

    @property
    def latest_checks(self) -> tuple[CheckResult, ...]:
        """The check results of the last decision that carried any."""
        for entry in reversed(self.history):
            if entry.checks:
                return entry.checks
        return ()

    def routed(self, *, now: float) -> RolloutState:
        """The state once the last decision's traffic change took effect: its history entry records when."""
        history = self.history
        if history and history[-1].kind != "hold" and history[-1].routed_at is None:
            history = (*history[:-1], replace(history[-1], routed_at=now))
        return replace(self, history=history)

    def evolve(self, **changes: Any) -> RolloutState:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The state file's content (camelCase spec, as on the wire)."""
        return {
            "deployment": self.deployment,
            "model": self.model,
            "champion": self.champion,
            "challenger": self.challenger,
            "strategy": self.spec.model_dump(mode="json", by_alias=True),
            "startedAt": self.started_at,
            "phase": self.phase.value,
            "step": self.step,
            "weight": self.weight,
            "stepStartedAt": self.step_started_at,
            "failures": self.failures,
            "pairedSamples": self.paired_samples,
            "lastAnalysisAt": self.last_analysis_at,
            "pending": list(self.pending),
            "history": [entry.to_dict() for entry in self.history],
            "previousWarmUntil": self.previous_warm_until,
            "revision": self.revision,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutState:
        """Read back what `to_dict` wrote."""
        return cls(
            deployment=str(data["deployment"]),
            model=str(data["model"]),
            champion=str(data["champion"]),
            challenger=str(data["challenger"]),
            spec=RolloutSpec.model_validate(data["strategy"]),
            started_at=float(data["startedAt"]),
            phase=Phase(data["phase"]),
            step=int(data["step"]),
            weight=int(data["weight"]),
            step_started_at=float(data["stepStartedAt"]),
            failures=int(data.get("failures", 0)),
            paired_samples=int(data.get("pairedSamples", 0)),
            last_analysis_at=data.get("lastAnalysisAt"),
            pending=tuple(data.get("pending", ())),
            history=tuple(HistoryEntry.from_dict(e) for e in data.get("history", ())),
            previous_warm_until=data.get("previousWarmUntil"),
            revision=int(data.get("revision", 0)),
            extra=dict(data.get("extra", {})),
        )


def initial_state(
    *, deployment: str, model: str, champion: str, challenger: str, spec: RolloutSpec, now: float
) -> RolloutState:
    """A rollout that has just started: in shadow when the strategy has one, else at the first canary step."""
    if spec.shadow is not None:
        phase, step, weight = Phase.SHADOW, SHADOW_STEP, 0
    else:
        phase, step, weight = Phase.CANARY, 0, spec.canary.steps[0]
    return RolloutState(
        deployment=deployment,
        model=model,
        champion=champion,
        challenger=challenger,
        spec=spec,
        started_at=now,
        phase=phase,
        step=step,
        weight=weight,
        step_started_at=now,
    )
