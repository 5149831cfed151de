"""gopins: the staging replace lines of our kube module, generated from a Kubernetes tag's go.mod."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.devtools import gopins
from kubeloop.errors import KubeloopError

TAG_GO_MOD = """module k8s.io/kubernetes

require (
\tgithub.com/spf13/cobra v1.10.2
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
)

require k8s.io/kubectl v0.0.0 // indirect

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/kubectl => ./staging/src/k8s.io/kubectl
\tk8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
"""


def test_staging_version_of_a_release() -> None:
    assert gopins.staging_version("v1.37.2") == "v0.37.2"
    with pytest.raises(KubeloopError, match="'v1.37.0-rc.1' is not a Kubernetes release tag"):
        gopins.staging_version("v1.37.0-rc.1")


def test_only_required_staging_modules_are_replaced_in_go_mod_order() -> None:
    # sample-controller is a staging folder the tag never requires: its version is not even published.
    assert gopins.staging_modules(TAG_GO_MOD) == ["k8s.io/api", "k8s.io/client-go", "k8s.io/kubectl"]


def test_block_replaces_each_with_the_published_version() -> None:
    block = gopins.replace_block(go_mod=TAG_GO_MOD, tag="v1.37.2")
    assert block.splitlines() == [gopins.BEGIN, "replace (", "\tk8s.io/api => k8s.io/api v0.37.2",
                                  "\tk8s.io/client-go => k8s.io/client-go v0.37.2",
                                  "\tk8s.io/kubectl => k8s.io/kubectl v0.37.2", ")", gopins.END]


def test_block_is_swapped_in_place_or_appended() -> None:
    ours = "module x\n\nrequire k8s.io/kubernetes v1.36.1\n"
    first = gopins.with_replace_block(ours=ours, block="B1")
    assert first == ours + "\nB1\n"
    old = gopins.replace_block(go_mod=TAG_GO_MOD, tag="v1.36.1")
    swapped = gopins.with_replace_block(ours=ours + "\n" + old + "\n// after\n", block="B2")
    assert swapped == ours + "\nB2\n// after\n"


def test_required_version_is_read_or_refused() -> None:
    go_mod = "require (\n\tk8s.io/kubernetes v1.37.2\n)"
    assert gopins.required_version(go_mod, gopins.KUBERNETES) == "v1.37.2"
    with pytest.raises(KubeloopError, match="requires no k8s.io/kubernetes"):
        gopins.required_version("module x\n", gopins.KUBERNETES)


def test_pin_rewrites_version_and_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "go.mod").write_text("module x\n\nrequire k8s.io/kubernetes v1.36.1\n")
    monkeypatch.setattr(gopins, "tag_go_mod", lambda *, tag, cwd: TAG_GO_MOD)
    assert gopins.pin_kubernetes(module_dir=tmp_path, tag="v1.37.2") == "v1.37.2"
    text = (tmp_path / "go.mod").read_text()
    assert "require k8s.io/kubernetes v1.37.2\n" in text
    assert "\tk8s.io/kubectl => k8s.io/kubectl v0.37.2\n" in text


def test_block_is_found_again_after_go_mod_tidy_spaced_it() -> None:
    block = gopins.replace_block(go_mod=TAG_GO_MOD, tag="v1.37.2")
    tidied = "module x\n\n" + block.replace(")\n" + gopins.END, ")\n\n" + gopins.END) + "\n"
    assert gopins.has_block(ours=tidied, block=block)
    assert not gopins.has_block(ours=tidied, block=gopins.replace_block(go_mod=TAG_GO_MOD, tag="v1.37.3"))
    assert not gopins.has_block(ours="module x\n", block=block)
