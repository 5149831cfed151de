"""What a label is once accepted, what storing a batch did, and the error a refused batch raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.errors import KubeloopError

# A label's value: a class (string, integer or boolean) or a regression target (a finite number).
LabelValue = str | int | float | bool
OUTCOMES = ("new", "duplicate", "changed", "refused")


class LabelError(KubeloopError):
    """A label batch refused as a whole; `status` is the HTTP status to answer (400 malformed, 422 type)."""

    def __init__(self, message: str, *, status: int = 400, refused: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.refused = refused


@dataclass(frozen=True, kw_only=True)
class Label:
    """The ground truth of one row of one answered request, keyed as the gateway's `x-request-id` said.

    `sampling_probability` is set when the request was chosen for labeling outside kubeloop; it then
    replaces the inclusion probability kubeloop recorded for the request.
    """

    request_id: str
    row: int = 0
    label: LabelValue
    sampling_probability: float | None = None


@dataclass(frozen=True, kw_only=True)
class PutResult:
    """What one `put` did: labels stored for the first time, seen before unchanged, or replacing another."""

    new: int = 0
    duplicate: int = 0
    changed: int = 0

    @property
    def received(self) -> int:
        """Every label of the batch."""
        return self.new + self.duplicate + self.changed

    def __add__(self, other: PutResult) -> PutResult:
        return PutResult(new=self.new + other.new, duplicate=self.duplicate + other.duplicate,
                         changed=self.changed + other.changed)

    def to_dict(self) -> dict[str, Any]:
        """The counts as the gateway and the CLI report them."""
        return {"received": self.received, "new": self.new, "duplicate": self.duplicate,
                "changed": self.changed}
