"""What a check returns: a verdict with the value, the threshold and how many samples stood behind it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """Pass and Fail are judgements; Inconclusive means too little data to judge, which holds a step."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """One check evaluated over one window."""

    name: str
    kind: str
    verdict: Verdict
    value: float | None
    threshold: float
    samples: int
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly mapping, as the state file and `rollout status --json` show it."""
        return {
            "name": self.name,
            "kind": self.kind,
            "verdict": self.verdict.value,
            "value": self.value,
            "threshold": self.threshold,
            "samples": self.samples,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        """Read back what `to_dict` wrote."""
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            verdict=Verdict(data["verdict"]),
            value=None if data.get("value") is None else float(data["value"]),
            threshold=float(data["threshold"]),
            samples=int(data.get("samples", 0)),
            reason=str(data.get("reason", "")),
        )
