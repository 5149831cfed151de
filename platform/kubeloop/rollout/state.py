"""The rollout's state: phase, step, weight, failure count and the history of decisions with their checks.

Pydantic models, dumped as the state file and the custom resource's `status.rollout` show them:
camelCase at the top, the history and the pending actions in snake_case as they always were. A state
written before the typed `retirement` existed (its `previousWarmUntil` and `extra.retired`) still loads.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from kubeloop.analysis.results import CheckResult
from kubeloop.rollout.actions import Action
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


class HistoryEntry(BaseModel):
    """One decision as it was taken: when, what, why, where it left the rollout and the checks behind it."""

    model_config = ConfigDict(frozen=True)

    at: float
    kind: str
    reason: str
    phase: Phase
    step: int
    weight: int
    failures: int = 0
    checks: tuple[CheckResult, ...] = ()
    # When the decision's last route change took effect (None for holds and until it has).
    routed_at: float | None = None


class Retirement(BaseModel):
    """The server a finished rollout leaves behind and when it may stop: the rule any executor carries out.

    The rolled-back (or aborted) challenger is due at once; the previous champion after a promotion is
    due when its warm period ends, so a late rollback stays instant until then. `done_at` is set when
    the retirement was handed to the servers (as a pending action, so it happens even after a crash).
    """

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    version: str
    due_at: float
    done_at: float | None = None

    def due(self, *, now: float) -> bool:
        """True when the server should be stopped now and has not been yet."""
        return self.done_at is None and now >= self.due_at


class RolloutState(BaseModel):
    """Everything the controller needs to resume a rollout exactly where it was."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    deployment: str
    model: str
    champion: str
    challenger: str
    spec: RolloutSpec = Field(validation_alias="strategy", serialization_alias="strategy")
    started_at: float
    phase: Phase
    step: int
    weight: int
    step_started_at: float
    failures: int = 0
    paired_samples: int = 0
    last_analysis_at: float | None = None
    # Actions decided but not yet confirmed done; a restarted controller replays them (they are idempotent).
    pending: tuple[Action, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    retirement: Retirement | None = None
    revision: int = 0

    @model_validator(mode="before")
    @classmethod
    def _from_older_files(cls, data: Any) -> Any:
        """Turn the untyped `previousWarmUntil` / `extra.retired` of older state files into `retirement`."""
        if not isinstance(data, dict) or "retirement" in data or "previousWarmUntil" not in data:
            return data
        older = data
        data = {k: v for k, v in older.items() if k not in ("previousWarmUntil", "extra")}
        if Phase(data["phase"]).terminal:
            promoted = data["phase"] == Phase.PROMOTED
            last = (data.get("history") or [{"at": data["startedAt"]}])[-1]["at"]
            due = (older.get("previousWarmUntil") or last) if promoted else last
            retired = bool((older.get("extra") or {}).get("retired"))
            version = data["champion"] if promoted else data["challenger"]
            data["retirement"] = {"version": version, "dueAt": due, "doneAt": due if retired else None}
        return data

    @property
    def done(self) -> bool:
        """True once the rollout reached a terminal phase and every action is confirmed."""
        return self.phase.terminal and not self.pending

    @property
    def settled(self) -> bool:
        """True once the rollout is done and the server it left behind is retired (nothing left to do)."""
        return self.done and (self.retirement is None or self.retirement.done_at is not None)

    @property
    def previous_warm_until(self) -> float | None:
        """After a promotion, until when the previous champion's server is kept for a late rollback."""
        if self.phase is not Phase.PROMOTED or self.retirement is None:
            return None
        return self.retirement.due_at

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
            history = (*history[:-1], history[-1].model_copy(update={"routed_at": now}))
        return self.evolve(history=history)

    def evolve(self, **changes: Any) -> RolloutState:
        """A copy with some fields changed (by their Python names)."""
        return self.model_copy(update=changes)

    def to_json(self) -> dict[str, Any]:
        """The state file's content (camelCase, the strategy as on the wire)."""
        return self.model_dump(mode="json", by_alias=True)


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
