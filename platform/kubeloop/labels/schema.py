"""What a deployment's labels must look like: one of its models' classes, or a number for a regressor.

Each model server records the label schema of its version when it starts, beside the prediction logs
(`<logs>/<deployment>/labels/schema/v<version>.json`); a label is checked against the union over the
deployment's versions, so a label valid for the champion or for a challenger is accepted.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kubeloop.labels.records import LabelError, LabelValue
from kubeloop.predlog.store import deployment_folder

SchemaKind = Literal["class", "number", "any"]
_SHOWN_CLASSES = 8


def class_key(value: Any) -> str:
    """The form classes are compared in: integral floats as integers (CSV columns with gaps are floats)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, kw_only=True)
class LabelSchema:
    """The labels a deployment accepts: `class` (one of `classes`), `number` (finite) or `any` scalar."""

    kind: SchemaKind = "any"
    classes: tuple[LabelValue, ...] = ()

    def canonical(self, value: Any, *, where: str, deployment: str) -> LabelValue:
        """The label as stored (a class in the model's own type), or LabelError (422) naming `where`."""
        if isinstance(value, bool | str | int | float) and not _bad_number(value):
            if self.kind == "class":
                return self._as_class(value, where=where, deployment=deployment)
            if self.kind == "any" or (not isinstance(value, bool | str)):
                return value
            expected = "a number: deployment {d!r} serves a regressor"
        else:
            expected = "a class name or a finite number"
        detail = expected.format(d=deployment)
        raise LabelError(f"{where}: expected {detail}, got {value!r}", status=422)

    def _as_class(self, value: LabelValue, *, where: str, deployment: str) -> LabelValue:
        by_key = {class_key(c): c for c in self.classes}
        found = by_key.get(class_key(value))
        if found is None:
            shown = ", ".join(class_key(c) for c in self.classes[:_SHOWN_CLASSES])
            more = ", ..." if len(self.classes) > _SHOWN_CLASSES else ""
            raise LabelError(
                f"{where}: {value!r} is not a class of deployment {deployment!r} ({shown}{more})", status=422
            )
        return found

    def to_json(self) -> dict[str, Any]:
        """The schema file's content."""
        return {"kind": self.kind, "classes": list(self.classes)}


def _bad_number(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def schema_for_model(*, classes: Sequence[Any] | None, regressor: bool) -> LabelSchema:
    """A served model's schema: its classes, a number for a regressor, anything when neither is known."""
    if classes is not None:
        return LabelSchema(kind="class", classes=tuple(classes))
    return LabelSchema(kind="number") if regressor else LabelSchema()


def combine(schemas: Iterable[LabelSchema]) -> LabelSchema:
    """The labels valid for any of the versions: the union of classes, a number, or anything when mixed."""
    found = list(schemas)
    kinds = {schema.kind for schema in found}
    if kinds == {"class"}:
        classes: dict[str, LabelValue] = {}
        for schema in found:
            classes.update({class_key(c): c for c in schema.classes})
        return LabelSchema(kind="class", classes=tuple(classes.values()))
    if kinds == {"number"}:
        return LabelSchema(kind="number")
    return LabelSchema()


def schema_folder(root: Path, deployment: str) -> Path:
    """Where the versions of a deployment record their label schemas."""
    return deployment_folder(root, deployment) / "labels" / "schema"


def record_version_schema(root: Path, *, deployment: str, version: str, schema: LabelSchema) -> Path:
    """Write one version's schema atomically (servers of the same version write the same file)."""
    folder = schema_folder(root, deployment)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"v{version}.json"
    temporary = folder / f".v{version}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(schema.to_json()))
    temporary.replace(path)
    return path


def read_schema(root: Path, deployment: str) -> LabelSchema:
    """The deployment's schema over every version that recorded one; `any` when none has."""
    folder = schema_folder(root, deployment)
    schemas = []
    for path in sorted(folder.glob("v*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text())
            schemas.append(LabelSchema(kind=data["kind"], classes=tuple(data.get("classes", ()))))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a file being replaced or foreign: the others still decide
    return combine(schemas) if schemas else LabelSchema()
