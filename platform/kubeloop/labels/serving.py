"""What a model server does for labels: read its labeling policy, record its version's label schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kubeloop.errors import SpecError
from kubeloop.labels.schema import record_version_schema, schema_for_model
from kubeloop.spec import LabelingSpec, describe_validation_error


def labeling_policy(text: str | None) -> LabelingSpec | None:
    """The policy from its JSON (the spec's `labeling`, camelCase); None when empty or `none`."""
    if not text:
        return None
    try:
        spec = LabelingSpec.model_validate_json(text)
    except ValidationError as error:
        raise SpecError(f"invalid labeling policy: {describe_validation_error(error)}") from None
    return None if spec.policy == "none" else spec


def policy_json(spec: LabelingSpec) -> str:
    """The policy as a server takes it (empty when it chooses nothing)."""
    return "" if spec.policy == "none" else spec.model_dump_json(by_alias=True)


def record_served_schema(root: Path, *, deployment: str, version: str, classes: Any, estimator: Any) -> None:
    """Record the labels this version accepts: its classes, or numbers for a scikit-learn regressor."""
    schema = schema_for_model(classes=classes, regressor=_is_regressor(estimator))
    record_version_schema(root, deployment=deployment, version=version, schema=schema)


def _is_regressor(estimator: Any) -> bool:
    from sklearn.base import is_regressor

    try:
        return bool(is_regressor(estimator))
    except (AttributeError, TypeError):  # not a scikit-learn estimator (a pyfunc model): unknown
        return False
