"""The MLflow model registry behind one narrow API: versions, aliases, tags and verified downloads.

Every other part of kubeloop (training, serving, rollouts, drift, the CLI) talks to MLflow's registry
through `MlflowRegistry` only; it returns kubeloop's own frozen records, never MLflow entities.
The signatures below are stable:

    registry = MlflowRegistry.from_settings(settings)          # or MlflowRegistry(tracking_uri=...)
    registry.check()                                            # BackendUnavailable when unreachable
    registry.list_models() -> list[RegisteredModel]
    registry.get_model(name) -> RegisteredModel                 # NotFoundError
    registry.list_versions(name) -> list[ModelVersion]          # newest first
    registry.get_version(name, version) -> ModelVersion         # NotFoundError
    registry.version_for_alias(name, alias) -> ModelVersion | None
    registry.resolve(ref, *, name=None) -> ModelVersion  # models:/n@champion, models:/n/3, or 3 / champion
    registry.register(name=, model_uri=, run_id=, tags=, aliases=) -> ModelVersion  # sets the sha256 tag
    registry.set_alias(name=, alias=, version=) / registry.delete_alias(name=, alias=)
    registry.promote(name=, version=) -> ModelVersion           # champion -> previous, version -> champion
    registry.set_tags(name=, version=, tags=)
    registry.download(name=, version=, dst=None) -> Path        # the folder holding MLmodel
    registry.download_verified(name=, version=, dst=None) -> Path   # IntegrityError on a digest mismatch
    registry.locate(model_uri) -> ModelSource                   # runs:/ or models:/m-<id>; NotFoundError
    registry.download_location(location, dst) -> Path           # one artifact location, as register reads it

The digest contract: `register` sets tag `kubeloop.artifact_sha256` to `tree_sha256()` of the model
folder (the one holding MLmodel) downloaded from the version's artifact location
(`MlflowClient.get_model_version_download_uri`); `download_verified` downloads the same way and
compares. `models:/name/version` URIs are never downloaded directly: MLflow then writes a
`registered_model_meta` file into the folder (into the store itself for local artifacts), which
would change the digest.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeloop.errors import BackendUnavailable, IntegrityError, KubeloopError, NotFoundError
from kubeloop.registry.digest import tree_sha256
from kubeloop.registry.names import CHALLENGER, CHAMPION, PREVIOUS, TAG_ARTIFACT_SHA256
from kubeloop.settings import Settings

if TYPE_CHECKING:
    from kubeloop.registry.sources import ModelSource

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")
_PING_TIMEOUT_S = 5.0


@dataclass(frozen=True, kw_only=True)
class ModelVersion:
    """One registered model version: where it came from, its aliases and its tags."""

    name: str
    version: str
    run_id: str | None
    source: str
    created_at_ms: int
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        """The `models:/name/version` URI that pins this exact version."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True, kw_only=True)
class RegisteredModel:
    """A registered model with its alias -> version map and its newest version number."""

    name: str
    aliases: Mapping[str, str] = field(default_factory=dict)
    latest_version: str | None = None
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


class MlflowRegistry:
    """The kubeloop view of an MLflow registry (SQLite file store or any http(s) tracking server)."""

    def __init__(self, *, tracking_uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    @classmethod
    def from_settings(cls, settings: Settings) -> MlflowRegistry:
        """A registry on the settings' tracking URI, checked to be reachable first."""
        if settings.is_local_store:
            settings.ensure_dirs()
        check_reachable(settings.tracking_uri)
        return cls(tracking_uri=settings.tracking_uri)

    def check(self) -> None:
        """Raise BackendUnavailable unless the tracking server answers (a no-op for SQLite)."""
        check_reachable(self.tracking_uri)

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model, sorted by name."""
        models = self._call(lambda: list(_paged(self._client.search_registered_models)))
        return sorted((_to_model(m) for m in models), key=lambda m: m.name)

    def get_model(self, name: str) -> RegisteredModel:
        """One registered model; NotFoundError when it does not exist."""
        return _to_model(self._call(lambda: self._client.get_registered_model(name), what=f"model {name!r}"))

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, newest first (empty when the model has none or does not exist)."""
        found = self._call(
            lambda: list(_paged(self._client.search_model_versions, filter_string=f"name = '{_quote(name)}'"))
        )
        aliases = self._aliases_by_version(name) if found else {}
        versions = [_to_version(v, aliases.get(str(v.version), ())) for v in found]
        return sorted(versions, key=lambda v: int(v.version), reverse=True)

    def get_version(self, name: str, version: str | int) -> ModelVersion:
        """One version with its aliases; NotFoundError when it does not exist."""
        found = self._call(
            lambda: self._client.get_model_version(name, str(version)),
            what=f"model {name!r} version {version}",
        )
        return _to_version(found, self._aliases_by_version(name).get(str(version), ()))

    def version_for_alias(self, name: str, alias: str) -> ModelVersion | None:
        """The version an alias points to, or None when the alias (or the model) is not set."""
        model = self._call(lambda: self._client.get_registered_model(name), missing=None)
        if model is None:
            return None
        version = _to_model(model).aliases.get(alias)
        return None if version is None else self.get_version(name, version)

    def resolve(self, ref: str, *, name: str | None = None) -> ModelVersion:
        """A version from `models:/name@alias`, `models:/name/3`, or (with name) `3`, `v3` or an alias."""
        match = _MODELS_URI.match(ref)
        if match:
            name, alias, version = match.group("name"), match.group("alias"), match.group("version")
        elif name is not None:
            bare = ref[1:] if ref[:1] in ("v", "V") and ref[1:].isdigit() else ref
            alias, version = (None, bare) if bare.isdigit() else (ref, None)
        else:
            raise KubeloopError(
                f"cannot resolve {ref!r}: expected models:/<name>@<alias> or models:/<name>/<version>"
            )
        if version is not None:
            return self.get_version(name, version)
        found = self.version_for_alias(name, alias or "")
        if found is None:
            raise NotFoundError(f"model {name!r} has no alias {alias!r}")
        return found

    def register(
        self,
        *,
        name: str,
        model_uri: str,
        run_id: str | None,
        tags: Mapping[str, str],
        aliases: Iterable[str] = (),
    ) -> ModelVersion:
        """Register a logged model (`models:/m-<id>`, `runs:/<run>/<path>`) as a new version of `name`.

        The artifact sha256 tag is computed here, from a download of the logged model's folder, so
        that `download_verified` compares like with like. `run_id` None means the model's own run.
        """
        from mlflow.exceptions import MlflowException

        source = self.locate(model_uri)
        with tempfile.TemporaryDirectory(prefix="kubeloop-register-") as scratch:
            digest = tree_sha256(self.download_location(source.location, Path(scratch)))
        try:
            self._client.create_registered_model(name)
        except MlflowException as error:
            if getattr(error, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise _translate(error, what=f"model {name!r}") from error
        all_tags = {**tags, TAG_ARTIFACT_SHA256: digest}
        with active_tracking_uri(self.tracking_uri):  # MLflow looks the logged model up on the global URI
            created = self._call(
                lambda: self._client.create_model_version(
                    name,
                    source.version_source,
                    run_id=run_id or source.run_id,
                    tags=all_tags,
                    model_id=source.model_id,
                )
            )
        for alias in aliases:
            self.set_alias(name=name, alias=alias, version=str(created.version))
        return self.get_version(name, created.version)

    def locate(self, model_uri: str) -> ModelSource:
        """Where a logged model's files are (`runs:/`, `models:/m-<id>`); NotFoundError when absent."""
        from kubeloop.registry.sources import locate_model

        return locate_model(self._client, model_uri)

    def set_alias(self, *, name: str, alias: str, version: str | int) -> None:
        """Point an alias at a version (moving it if it pointed elsewhere)."""
        self._call(
            lambda: self._client.set_registered_model_alias(name, alias, str(version)),
            what=f"model {name!r} version {version}",
        )

    def delete_alias(self, *, name: str, alias: str) -> None:
        """Remove an alias; a no-op when it is not set."""
        if self.version_for_alias(name, alias) is not None:
            self._call(lambda: self._client.delete_registered_model_alias(name, alias))

    def promote(self, *, name: str, version: str | int) -> ModelVersion:
        """Make `version` the champion: the old champion becomes `previous`, `challenger` is cleared."""
        target = self.get_version(name, version)
        old = self.version_for_alias(name, CHAMPION)
        if old is not None and old.version != target.version:
            self.set_alias(name=name, alias=PREVIOUS, version=old.version)
        self.set_alias(name=name, alias=CHAMPION, version=target.version)
        challenger = self.version_for_alias(name, CHALLENGER)
        if challenger is not None and challenger.version == target.version:
            self.delete_alias(name=name, alias=CHALLENGER)
        return self.get_version(name, target.version)

    def set_tags(self, *, name: str, version: str | int, tags: Mapping[str, Any]) -> None:
        """Set (or overwrite) tags on a version; values are stored as strings."""
        for key, value in tags.items():
            self._call(
                lambda k=key, v=value: self._client.set_model_version_tag(name, str(version), k, str(v)),
                what=f"model {name!r} version {version}",
            )

    def download(self, *, name: str, version: str | int, dst: Path | None = None) -> Path:
        """Copy a version's model folder (the one holding MLmodel) to `dst` (a new temp folder if None)."""
        self.get_version(name, version)
        location = self._call(
            lambda: self._client.get_model_version_download_uri(name, str(version)),
            what=f"model {name!r} version {version}",
        )
        target = Path(tempfile.mkdtemp(prefix=f"kubeloop-{name}-v{version}-")) if dst is None else dst
        return self.download_location(location, target)

    def download_verified(self, *, name: str, version: str | int, dst: Path | None = None) -> Path:
        """Download a version and refuse it (IntegrityError) unless its tree sha256 matches the tag."""
        expected = self.get_version(name, version).tags.get(TAG_ARTIFACT_SHA256)
        if not expected:
            raise IntegrityError(f"model {name!r} version {version} has no {TAG_ARTIFACT_SHA256} tag")
        path = self.download(name=name, version=version, dst=dst)
        actual = tree_sha256(path)
        if actual != expected:
            raise IntegrityError(
                f"model {name!r} version {version}: artifact sha256 {actual[:12]}... "
                f"does not match the registered {expected[:12]}..."
            )
        return path

    def download_location(self, location: str, dst: Path) -> Path:
        """Download an artifact location (never a `models:/` URI, whose download writes into the folder)."""
        import mlflow.artifacts

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep CLI output clean
        dst.mkdir(parents=True, exist_ok=True)
        path = self._call(
            lambda: mlflow.artifacts.download_artifacts(
                artifact_uri=location, dst_path=str(dst), tracking_uri=self.tracking_uri
            ),
            what=location,
        )
        return Path(path)

    def _aliases_by_version(self, name: str) -> dict[str, tuple[str, ...]]:
        model = self._call(lambda: self._client.get_registered_model(name), missing=None)
        by_version: dict[str, list[str]] = {}
        for alias, version in (_to_model(model).aliases if model else {}).items():
            by_version.setdefault(version, []).append(alias)
        return {version: tuple(sorted(names)) for version, names in by_version.items()}

    def _call(self, action: Any, *, what: str = "", missing: Any = ...) -> Any:
        """Run one MLflow call, turning its exceptions into kubeloop errors."""
        from mlflow.exceptions import MlflowException

        try:
            return action()
        except MlflowException as error:
            if missing is not ... and _is_not_found(error):
                return missing
            raise _translate(error, what=what) from error


@contextmanager
def active_tracking_uri(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's global tracking URI at `tracking_uri` for the block, then restore it.

    Some MLflow calls ignore the client's URI (fluent `log_model`, registering a `models:/m-<id>`
    source); MLflow mirrors its global URI into MLFLOW_TRACKING_URI, restored here as well.
    """
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    before = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with _use_tracking_uri(tracking_uri):
            yield
    finally:
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before


def check_reachable(tracking_uri: str) -> None:
    """Fail fast with BackendUnavailable when an http(s) tracking server does not answer /health."""
    if not tracking_uri.startswith(("http://", "https://")):
        return
    import httpx

    try:
        httpx.get(tracking_uri.rstrip("/") + "/health", timeout=_PING_TIMEOUT_S).raise_for_status()
    except httpx.HTTPError as error:
        raise BackendUnavailable(f"MLflow tracking server {tracking_uri} is unreachable: {error}") from error


def _paged(search: Any, **kwargs: Any) -> Iterable[Any]:
    token = None
    while True:
        page = search(max_results=200, page_token=token, **kwargs)
        yield from page
        token = page.token
        if not token:
            return


def _is_not_found(error: Exception) -> bool:
    return getattr(error, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")


def _translate(error: Exception, *, what: str) -> KubeloopError:
    if _is_not_found(error):
        return NotFoundError(f"{what or 'resource'} not found in the registry")
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if getattr(error, "error_code", "") in ("TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR"):
        return BackendUnavailable(f"registry error: {first_line}")
    return KubeloopError(f"registry error: {first_line}")


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def _to_model(model: Any) -> RegisteredModel:
    versions = [int(v.version) for v in (model.latest_versions or [])]
    return RegisteredModel(
        name=model.name,
        aliases={alias: str(version) for alias, version in (model.aliases or {}).items()},
        latest_version=str(max(versions)) if versions else None,
        description=model.description or "",
        tags=dict(model.tags or {}),
    )


def _to_version(version: Any, aliases: tuple[str, ...]) -> ModelVersion:
    return ModelVersion(
        name=version.name,
        version=str(version.version),
        run_id=version.run_id or None,
        source=version.source or "",
        created_at_ms=int(version.creation_timestamp or 0),
        aliases=aliases,
        tags=dict(version.tags or {}),
    )
