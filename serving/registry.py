"""Loaded models and versions, kept in step with the model base by a watcher thread.

A new version is loaded completely before it is published; a dropped version
is only removed from the lookup table, so requests already holding it finish
on it (Python keeps the object alive until the last reference goes).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable

from serving import base_scan
from serving.errors import failed_precondition, invalid, not_found
from serving.model_config import ModelSpec, list_versions, specs_from_base
from serving.servable import LoadedVersion

log = logging.getLogger(__name__)

Loader = Callable[[str, int, str], LoadedVersion]
_MAX_WARNED = 10_000


@dataclasses.dataclass
class VersionStatus:
    """State of one version as GetModelStatus reports it."""

    version: int
    state: str  # START, LOADING, AVAILABLE, UNLOADING, END
    error: str = ""


@dataclasses.dataclass
class _Model:
    spec: ModelSpec
    versions: dict[int, LoadedVersion] = dataclasses.field(default_factory=dict)
    status: dict[int, VersionStatus] = dataclasses.field(default_factory=dict)
    failed: dict[int, float] = dataclasses.field(default_factory=dict)
    """Versions that failed to load -> newest mtime in their folder at the time;
    a version is retried once its files change (e.g. a non-atomic copy finished)."""


class ModelRegistry:
    """Which versions of which models are served; thread-safe lookups."""

    def __init__(
        self,
        specs: list[ModelSpec],
        model_base: str | None = None,
        poll_seconds: float = 2.0,
        loader: Loader = LoadedVersion,
        allow_labels_for_unavailable: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._warned: set[str] = set()
        """Stray names, unmarked versions and errors already logged (each once)."""
        self._models: dict[str, _Model] = {s.name: _Model(s) for s in self._usable(specs)}
        self._allow_labels_for_unavailable = allow_labels_for_unavailable
        self._labels: dict[str, dict[str, int]] = {}
        self._retired: dict[str, dict[int, VersionStatus]] = {}
        """States of models dropped by a reload: TF Serving's state monitor keeps them (END)."""
        self._model_base = model_base
        self._poll_seconds = poll_seconds
        self._loader = loader
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watcher_error: str | None = None
        """Why the watcher thread ended without being stopped (None while it runs)."""

    # Watching -----------------------------------------------------------

    def start(self) -> None:
        """Loads what is on disk now, then keeps polling in a daemon thread.

        Version labels are checked first, as TF Serving does for its first config:
        a label may only name a version that is not loaded yet when
        `allow_labels_for_unavailable` is set.
        """
        with self._lock:
            self._labels = self._checked_labels([m.spec for m in self._models.values()])
        self.refresh()
        if self._poll_seconds <= 0:  # TF Serving: 0 polls exactly once
            return
        self._thread = threading.Thread(target=self._watch, name="model-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops the watcher thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _watch(self) -> None:
        try:
            while not self._stop.wait(self._poll_seconds):
                try:
                    self.refresh()
                except Exception as e:  # noqa: BLE001 - nothing on disk may stop the watcher
                    self._warn_once(f"model watcher: {type(e).__name__}: {e}")
        except BaseException as e:  # noqa: BLE001 - recorded for /healthz, the thread ends
            self._watcher_error = f"{type(e).__name__}: {e}"
        if not self._stop.is_set():
            self._watcher_error = self._watcher_error or "stopped unexpectedly"
            log.critical("model watcher died (%s); no new versions load", self._watcher_error)

    def watcher_failure(self) -> str | None:
        """Why the model watcher thread died, or None while it runs (or was never started)."""
        if self._watcher_error is not None:
            return self._watcher_error
        thread = self._thread
        if thread is not None and not thread.is_alive() and not self._stop.is_set():
            return "the model watcher thread is not running"
        return None

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            if len(self._warned) >= _MAX_WARNED:  # bounded: a base churning odd names
                self._warned.clear()
            self._warned.add(message)
            log.warning("%s", message)

    def reload(self, specs: list[ModelSpec]) -> None:
        """Replaces the served model list (HandleReloadConfigRequest) and syncs now.

        Raises FAILED_PRECONDITION (and changes nothing) when a label names a version
        that is not available, as TF Serving's ServerCore::UpdateModelVersionLabelMap.
        """
        for spec in specs:
            if not os.path.isdir(spec.base_path):
                raise invalid(f"Could not find base path {spec.base_path} for servable {spec.name}")
        with self._refresh_lock:
            with self._lock:
                self._labels = self._checked_labels(specs)
                names = {s.name for s in specs}
                for name, model in self._models.items():
                    if name not in names:
                        self._retired[name] = {
                            v: VersionStatus(v, "END", st.error) for v, st in model.status.items()
                        }
                for name in names:
                    self._retired.pop(name, None)
                kept = {n: m for n, m in self._models.items() if n in names}
                for spec in specs:
                    model = kept.get(spec.name)
                    if model is None or model.spec.base_path != spec.base_path:
                        # A new base path means new SavedModels, even under the
                        # same version numbers.
                        kept[spec.name] = _Model(spec)
                    else:
                        model.spec = spec
                        model.failed.clear()
                self._models = kept
                self._model_base = None
            self._sync_all()

    def _checked_labels(self, specs: list[ModelSpec]) -> dict[str, dict[str, int]]:
        """Label map for `specs`; caller holds the lock."""
        labels: dict[str, dict[str, int]] = {}
        for spec in specs:
            model = self._models.get(spec.name)
            loaded = set(model.versions) if model is not None else set()
            old = self._labels.get(spec.name, {})
            for label, version in spec.labels:
                unchanged_or_new = old.get(label, version) == version
                allowed = self._allow_labels_for_unavailable and unchanged_or_new
                if version not in loaded and not allowed:
                    raise failed_precondition(
                        f"Request to assign label to version {version} of model {spec.name}, "
                        "which is not currently available for inference"
                    )
                labels.setdefault(spec.name, {})[label] = version
        return labels

    def refresh(self) -> None:
        """One poll: discover models (base mode), load new versions, unload dropped ones."""
        with self._refresh_lock:
            if self._model_base is not None:
                for spec in self._usable(specs_from_base(self._model_base)):
                    with self._lock:
                        self._models.setdefault(spec.name, _Model(spec))
            self._sync_all()

    def _usable(self, specs: list[ModelSpec]) -> list[ModelSpec]:
        """Specs whose model name is text (a folder name that is not UTF-8 is skipped)."""
        usable = []
        for spec in specs:
            try:
                spec.name.encode("utf-8")
            except UnicodeEncodeError:
                self._warn_once(
                    f"{base_scan.printable(spec.base_path)}: model folder name is not UTF-8; skipped"
                )
                continue
            usable.append(spec)
        return usable

    def _sync_all(self) -> None:
        with self._lock:
            models = list(self._models.values())
        for model in models:
            try:
                self._sync(model)
            except Exception as e:  # noqa: BLE001 - one model's folder must not stop the others
                self._warn_once(
                    f"model {model.spec.name} ({model.spec.base_path}): "
                    f"{type(e).__name__}: {e}; its other versions stay as they are"
                )

    def _sync(self, model: _Model) -> None:
        spec = model.spec
        on_disk = list_versions(spec.base_path)
        for message in base_scan.stray_entries(spec.base_path, on_disk):
            self._warn_once(message)
        if spec.policy == "latest":
            # Newest first, skipping versions that fail to load: a corrupt newest version
            # must not leave the model with nothing (or an older version unloaded).
            wanted: set[int] = set()
            for version in sorted(on_disk, reverse=True):
                if len(wanted) == spec.num_versions:
                    break
                if version in model.versions or self._load(model, version):
                    wanted.add(version)
        else:
            wanted = spec.select(on_disk)
            for version in sorted(wanted - set(model.versions)):
                self._load(model, version)
        if not wanted & set(model.versions):
            # Availability first (TF Serving's AvailabilityPreservingPolicy): while none of
            # the wanted versions loaded, keep serving what is there.
            return
        for version in sorted(set(model.versions) - wanted):
            with self._lock:
                del model.versions[version]
                model.status[version] = VersionStatus(version, "END")
            log.info("unloaded %s version %d", spec.name, version)

    def _load(self, model: _Model, version: int) -> bool:
        """Loads one version into `model`; False if it failed (now or, unchanged, before)."""
        spec = model.spec
        path = f"{spec.base_path}/{version}"
        stamp = base_scan.folder_stamp(path)
        if model.failed.get(version) == stamp:
            return False  # failed before and unchanged since: do not retry every poll
        with self._lock:
            model.status[version] = VersionStatus(version, "LOADING")
        log.info("loading %s version %d from %s", spec.name, version, path)
        try:
            loaded = self._loader(spec.name, version, path)
        except Exception as e:  # noqa: BLE001 - any load failure is reported in the status
            log.error("failed to load %s version %d: %s", spec.name, version, e)
            with self._lock:
                model.failed[version] = stamp
                model.status[version] = VersionStatus(version, "END", f"{type(e).__name__}: {e}")
            return False
        with self._lock:
            model.versions[version] = loaded
            model.status[version] = VersionStatus(version, "AVAILABLE")
        log.info("serving %s version %d", spec.name, version)
        return True

    # Lookups --------------------------------------------------------------

    def model_names(self) -> list[str]:
        """Names of configured models."""
        with self._lock:
            return sorted(self._models)

    def _model(self, name: str, what: str) -> _Model:
        model = self._models.get(name)
        if model is None:
            raise not_found(f"Servable not found for request: {what}")
        return model

    def resolve(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> LoadedVersion:
        """The loaded version a request asks for (latest when neither version nor label)."""
        with self._lock:
            if version is not None:
                model = self._model(name, f"Specific({name}, {version})")
            elif label:
                version = self._labels.get(name, {}).get(label)
                if version is None:
                    raise invalid(f"Unrecognized servable version label: {label}")
                model = self._model(name, f"Specific({name}, {version})")
            else:
                model = self._model(name, f"Latest({name})")
                if not model.versions:
                    raise not_found(f"Servable not found for request: Latest({name})")
                return model.versions[max(model.versions)]
            loaded = model.versions.get(version)
            if loaded is None:
                raise not_found(f"Servable not found for request: Specific({name}, {version})")
            return loaded

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """Version states of a model (GetModelStatus), newest first.

        As TF Serving's GetModelStatusImpl: a version label in the request is ignored,
        and models dropped by a reload still report their versions as END.
        """
        with self._lock:
            model = self._models.get(name)
            states = dict(self._retired.get(name, {}))
            if model is not None:
                states.update(model.status)
            if version is not None:
                if version not in states:
                    raise not_found(f"Could not find version {version} of model {name}")
                return [states[version]]
            if not states:
                raise not_found(f"Could not find any versions of model {name}")
            return [states[v] for v in sorted(states, reverse=True)]

    def failed_to_start(self) -> str | None:
        """Why serving cannot start (a model with no loaded version), or None."""
        with self._lock:
            if not self._models:
                return "no models to serve"
            for name, model in sorted(self._models.items()):
                if not model.versions:
                    errors = [s.error for s in model.status.values() if s.error]
                    why = errors[-1] if errors else f"no version found under {model.spec.base_path}"
                    return f"model {name}: no loadable version ({why})"
        return None

    def unservable(self) -> str | None:
        """Why the server is not ready (a configured model with no servable version), or None.

        With a model base, a model folder that holds no version yet (its first push
        is under way) is not counted: it is not configured until it has one.
        """
        if failure := self.watcher_failure():
            return f"model watcher died ({failure}); restart the server"
        with self._lock:
            models = sorted(self._models.items())
            from_base = self._model_base is not None
        if not models:
            return "no models to serve"
        for name, model in models:
            if model.versions:
                continue
            if from_base and not list_versions(model.spec.base_path):
                continue
            errors = [s.error for s in model.status.values() if s.error]
            why = errors[-1] if errors else f"no version found under {model.spec.base_path}"
            return f"model {name} has no servable version ({why})"
        return None

    def available(self) -> dict[str, list[int]]:
        """Loaded versions per model."""
        with self._lock:
            return {n: sorted(m.versions) for n, m in self._models.items()}
