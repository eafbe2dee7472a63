"""Version labels and rollback through TF Serving's own model config.

A label change edits the model's entry in a text-proto `ModelServerConfig`
file (`version_labels`, and a `specific` version policy listing exactly the
labelled versions), keeps the file's previous text beside it
(`<file>.previous`, so a rollback of a rollback works) and, given a server,
asks it to reload (HandleReloadConfigRequest) in TF Serving's two steps: first
load the new version with the old labels, wait until it is AVAILABLE, then
move the label (a label may only name a loaded version). Clients addressing
`labels/stable` switch once the second reload returns.
"""

from __future__ import annotations

import os
import time

from contracts.model_config import STABLE_LABEL, entry_loaded_versions, model_entry

PREVIOUS_SUFFIX = ".previous"


def read_config(path: str):
    """The ModelServerConfig proto of a text-proto file."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: no model config file; write one with "
            "`vrl serve --model-base BASE --write-config FILE` and serve with --model_config_file"
        )
    config = model_server_config_pb2.ModelServerConfig()
    with open(path, encoding="utf-8") as f:
        try:
            text_format.Parse(f.read(), config)
        except text_format.ParseError as e:
            raise ValueError(f"{path}: not a text-proto ModelServerConfig: {e}") from e
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError(f"{path}: only model_config_list configs can be edited")
    return config


def _write_atomic(path: str, config) -> None:
    from google.protobuf import text_format

    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text_format.MessageToString(config))
    os.replace(tmp, path)


def _entry(config, model: str, path: str):
    entry = model_entry(config, model)
    if entry is not None:
        return entry
    names = [e.name for e in config.model_config_list.config]
    raise ValueError(f"{path}: no model {model!r} in the config; it lists {names}")


def _base_path(entry, path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(path)), entry.base_path)


def _with_entry(config, model: str, labels: dict[str, int], versions: set[int], path: str):
    new = type(config)()
    new.CopyFrom(config)
    entry = _entry(new, model, path)
    entry.version_labels.clear()
    entry.version_labels.update(labels)
    specific = entry.model_version_policy.specific
    del specific.versions[:]
    specific.versions.extend(sorted(versions))
    return new


def _absolute(config, path: str):
    """Copy with base paths resolved against the file's folder (the server's cwd differs)."""
    new = type(config)()
    new.CopyFrom(config)
    for entry in new.model_config_list.config:
        entry.base_path = _base_path(entry, path)
    return new


def reload_server(server: str, config, timeout: float = 30.0) -> None:
    """HandleReloadConfigRequest with `config`; raises OSError with the server's reason."""
    import grpc
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    request = model_management_pb2.ReloadConfigRequest()
    request.config.CopyFrom(config)
    with grpc.insecure_channel(server) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        try:
            response = stub.HandleReloadConfigRequest(request, timeout=timeout)
        except grpc.RpcError as e:
            raise OSError(f"{server}: reload failed: {e.details()}") from e
    if response.status.error_code:
        raise OSError(f"{server}: reload failed: {response.status.error_message}")


def served_versions(server: str, model: str, timeout: float = 10.0) -> dict[int, str]:
    """{version: state} from TF Serving's GetModelStatus; {} when the model is unknown."""
    import grpc
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    with grpc.insecure_channel(server) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        try:
            response = stub.GetModelStatus(request, timeout=timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return {}
            raise OSError(f"{server}: GetModelStatus({model}) failed: {e.details()}") from e
    states = get_model_status_pb2.ModelVersionStatus.State
    return {s.version: states.Name(s.state) for s in response.model_version_status}


def _wait_available(server: str, model: str, versions: set[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = served_versions(server, model)
        if all(states.get(v) == "AVAILABLE" for v in versions):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{server}: {model} versions {sorted(versions)} not AVAILABLE after {timeout:.0f}s "
                f"(states {states}); the labels were not moved"
            )
        time.sleep(0.2)


def apply_labels(
    path: str, model: str, labels: dict[str, int], server: str | None, timeout: float
) -> tuple[dict[str, int], dict[str, int]]:
    """Sets `model`'s labels to exactly `labels`; returns (old labels, new labels)."""
    from contracts.serving_base import complete_versions

    config = read_config(path)
    entry = _entry(config, model, path)
    base = _base_path(entry, path)
    available = complete_versions(base)
    missing = sorted(set(labels.values()) - set(available))
    if missing:
        raise ValueError(
            f"{model}: version(s) {missing} are not complete versions under {base} "
            f"(available: {available})"
        )
    old_labels = dict(entry.version_labels)
    final = _with_entry(config, model, labels, set(labels.values()), path)
    with open(path, encoding="utf-8") as f:
        previous_text = f.read()
    with open(path + PREVIOUS_SUFFIX, "w", encoding="utf-8") as f:
        f.write(previous_text)
    if server:
        loaded = set(entry_loaded_versions(entry, available))
        step = _with_entry(config, model, old_labels, loaded | set(labels.values()), path)
        # The file says what the server is told at each step: a server that also
        # polls the file must not unload the version being loaded in between.
        _write_atomic(path, step)
        try:
            reload_server(server, _absolute(step, path))
            _wait_available(server, model, set(labels.values()), timeout)
        except (OSError, TimeoutError):
            with open(path, "w", encoding="utf-8") as f:
                f.write(previous_text)
            raise
        _write_atomic(path, final)
        reload_server(server, _absolute(final, path))
    else:
        _write_atomic(path, final)
    return old_labels, dict(labels)


def _describe(model: str, old: dict, new: dict, path: str, server: str | None) -> str:
    changes = [
        f"{label} {old.get(label, '-')} -> {new.get(label, '-')}"
        for label in sorted(set(old) | set(new))
        if old.get(label) != new.get(label)
    ]
    where = f"; {server} reloaded" if server else "; no server given, not reloaded"
    what = ", ".join(changes) or "no change"
    return f"{model}: {what} ({path}, previous kept in {path}{PREVIOUS_SUFFIX}{where})"


def set_label(
    path: str, model: str, label: str, version: int, server: str | None, timeout: float = 60.0
) -> str:
    """Points `label` of `model` at `version`; returns a one-line description."""
    if not label or not label.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"label {label!r}: use letters, digits, '-' or '_' (e.g. stable, canary)")
    current = dict(_entry(read_config(path), model, path).version_labels)
    old, new = apply_labels(path, model, {**current, label: version}, server, timeout)
    return _describe(model, old, new, path, server)


def rollback(
    path: str, model: str, to: int | None, server: str | None, timeout: float = 60.0
) -> str:
    """Moves `stable` back: to `to`; else to the labels of the previous config
    file (so rolling back twice restores); else to the newest version below it."""
    if to is not None:
        return set_label(path, model, STABLE_LABEL, to, server, timeout)
    current = dict(_entry(read_config(path), model, path).version_labels)
    previous_path = path + PREVIOUS_SUFFIX
    if os.path.isfile(previous_path):
        previous = dict(_entry(read_config(previous_path), model, previous_path).version_labels)
        if previous and previous != current:
            old, new = apply_labels(path, model, previous, server, timeout)
            return _describe(model, old, new, path, server)
    from contracts.serving_base import complete_versions

    stable = current.get(STABLE_LABEL)
    entry = _entry(read_config(path), model, path)
    older = [v for v in complete_versions(_base_path(entry, path)) if stable and v < stable]
    if not older:
        raise ValueError(
            f"{model}: nothing to roll back to (stable={stable}, no previous config "
            f"{previous_path} with other labels, no older complete version); use --to VERSION"
        )
    return set_label(path, model, STABLE_LABEL, older[-1], server, timeout)
