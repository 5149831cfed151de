"""KFP v2 components and pipelines; each component is thin and calls kubeloop code.

`from kubeloop.components import validate_table, evaluate_model, quality_gate, register_model,
start_rollout, load_table` gives the reusable components (loaded on first use, so a task importing
`kubeloop.components.task` does not build them).
"""

from typing import Any

__all__ = [
    "evaluate_model",
    "load_table",
    "quality_gate",
    "register_model",
    "start_rollout",
    "validate_table",
]


def __getattr__(name: str) -> Any:
    """The reusable components, imported from `kubeloop.components.library` when first asked for."""
    if name in __all__:
        from kubeloop.components import library

        return getattr(library, name)
    raise AttributeError(f"module 'kubeloop.components' has no attribute {name!r}")
