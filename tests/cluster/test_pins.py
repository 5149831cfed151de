"""The kube module's staging replace lines are exactly what its Kubernetes tag's go.mod calls for."""

from __future__ import annotations

import pytest

from kubeloop.devtools import gobuild, gopins

pytestmark = pytest.mark.cluster


def test_the_generated_replace_block_matches_the_tags_go_mod() -> None:
    module = gobuild.modules_dir() / "kube"
    ours = (module / "go.mod").read_text()
    tag = gopins.required_version(ours, gopins.KUBERNETES)
    expected = gopins.replace_block(go_mod=gopins.tag_go_mod(tag=tag, cwd=module), tag=tag)
    assert gopins.has_block(ours=ours, block=expected), \
        "run `python -m kubeloop.devtools pin-kubernetes` and `go mod tidy`"
    assert len(gopins.staging_modules(gopins.tag_go_mod(tag=tag, cwd=module))) >= 25
