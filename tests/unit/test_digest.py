"""Artifact digests: a tree's sha256 changes with any content or path change."""

from __future__ import annotations

from pathlib import Path

from kubeloop.registry.digest import file_sha256, tree_sha256


def make_tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "sub" / "model.pkl").write_bytes(b"\x00\x01weights")
    return root


def test_same_content_same_digest(tmp_path: Path) -> None:
    assert tree_sha256(make_tree(tmp_path / "a")) == tree_sha256(make_tree(tmp_path / "b"))


def test_changed_byte_or_moved_file_changes_the_digest(tmp_path: Path) -> None:
    original = tree_sha256(make_tree(tmp_path / "a"))
    tampered = make_tree(tmp_path / "b")
    (tampered / "sub" / "model.pkl").write_bytes(b"\x00\x02weights")
    assert tree_sha256(tampered) != original
    moved = make_tree(tmp_path / "c")
    (moved / "sub" / "model.pkl").rename(moved / "model.pkl")
    assert tree_sha256(moved) != original


def test_a_single_file_digest_is_its_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    assert tree_sha256(path) == file_sha256(path)
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
