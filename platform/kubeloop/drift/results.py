"""What a drift check found: per-feature verdicts, the overall status and why, as frozen data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# `drift`/`no_drift` are verdicts; the other statuses mean the check could not decide, and a retrain
# policy must treat them as missing data, never as "no drift".
Status = Literal["drift", "no_drift", "not_enough_data", "no_reference", "failed"]
VERDICTS = ("drift", "no_drift")


@dataclass(frozen=True, kw_only=True)
class FeatureDrift:
    """One column's comparison: the method, its score, and the verdict after correction."""

    feature: str
    kind: str
    method: str
    # p-value for statistical tests, a distance for distance methods (as Evidently reports them).
    score: float
    threshold: float
    drifted: bool
    is_test: bool = True
    adjusted_p: float | None = None
    rows: int = 0


@dataclass(frozen=True, kw_only=True)
class DriftResult:
    """The outcome of one drift check of one window against one model version's reference."""

    status: Status
    reason: str
    rows: int
    reference_rows: int = 0
    features: tuple[FeatureDrift, ...] = ()
    prediction: FeatureDrift | None = None
    drift_share: float | None = None
    threshold: float | None = None
    correction: str = "bh"
    notes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        """True when the check reached a verdict (drift or no drift) rather than lacking data."""
        return self.status in VERDICTS

    @property
    def detected(self) -> bool:
        """True only for a decided check that found drift."""
        return self.status == "drift"

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """Names of the features whose verdict is drift."""
        return tuple(f.feature for f in self.features if f.drifted)

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary stored beside the HTML report."""
        data = asdict(self)
        data["drifted_features"] = list(self.drifted_features)
        return data


def undecided(
    status: Status, reason: str, *, rows: int, reference_rows: int = 0, notes: tuple[str, ...] = ()
) -> DriftResult:
    """A result that carries no verdict (not enough data, missing reference, failure)."""
    return DriftResult(status=status, reason=reason, rows=rows, reference_rows=reference_rows, notes=notes)
