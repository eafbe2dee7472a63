"""Which version of a model is served: TF Serving's rules over its model config.

TF Serving serves what its `ModelServerConfig` says: an entry's version
labels (`stable`, `canary`) name versions, and its version policy
(`latest` N, `all`, `specific`) picks the loaded ones; a request naming no
version or label gets the newest loaded version. Without a config file the
server's default is `latest` 1. These functions answer "which version is
production?" from the serving base and its config file, read through
`tf.io.gfile` so the base may be local, gs:// or s3://.
"""

from __future__ import annotations

import dataclasses
import posixpath

from contracts.model_config import (
    default_label,
    entry_loaded_versions,
    model_entry,
    policy_choice,
)


@dataclasses.dataclass(frozen=True)
class Served:
    """The served version (None: nothing served) and one line saying how it was chosen."""

    version: int | None
    why: str
    label: str = ""


def read_model_config(path: str):
    """The `ModelServerConfig` in the text-proto file at `path`, or None if there is none.

    Raises ValueError (one line naming the file) when it is not a text-proto
    ModelServerConfig with a model_config_list.
    """
    import tensorflow as tf
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        text = f.read()
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ValueError(f"{path}: not a text-proto ModelServerConfig ({e})") from e
    if config.WhichOneof("config") not in (None, "model_config_list"):
        raise ValueError(f"{path}: expected a model_config_list, not a custom_model_config")
    return config


def served_version(
    config, config_path: str, model_name: str, available: list[int], label: str = ""
) -> Served:
    """The version production traffic of `model_name` reaches.

    `label` names a version label of the model config; empty takes `stable`
    when the model's entry has labels, else the version policy's choice (the
    newest version it loads). Without a config (None) that is the newest of
    `available`, TF Serving's default policy. Raises ValueError (one line) when
    a label is named that the config does not define, or a label names a
    version that is not among `available`.
    """
    if not available:
        return Served(None, "no complete version pushed yet")
    entry = None if config is None else model_entry(config, model_name)
    if entry is None:
        if label:
            where = "no such file" if config is None else f"no entry for {model_name!r}"
            raise ValueError(
                f"{config_path}: {where}, so label {label!r} names no version; "
                "set labels with `vrl label` or leave the baseline label empty"
            )
        why = "no model config" if config is None else f"{model_name!r} not in {config_path}"
        return Served(available[-1], f"newest complete version ({why}: TF Serving's default)")
    labels = dict(entry.version_labels)
    if label and label not in labels:
        raise ValueError(
            f"{config_path}: model {model_name!r} has no label {label!r} "
            f"(labels: {sorted(labels) or 'none'})"
        )
    chosen = default_label(labels, label)
    if chosen:
        version = labels[chosen]
        if version not in available:
            raise ValueError(
                f"{config_path}: label {chosen!r} of {model_name!r} names version {version}, "
                f"which is not a complete version (available: {available})"
            )
        return Served(version, f"label {chosen!r} in {config_path}", chosen)
    loaded = entry_loaded_versions(entry, available)
    policy = policy_choice(entry)
    if not loaded:
        return Served(None, f"the {policy!r} version policy in {config_path} loads none")
    return Served(loaded[-1], f"newest version the {policy!r} policy in {config_path} loads")


def config_path_for(model_dir: str, file_name: str) -> str:
    """The model config beside the models: `<serving_base>/<file_name>` for
    `model_dir` = `<serving_base>/<model_name>`."""
    return posixpath.join(posixpath.dirname(model_dir.rstrip("/")), file_name)
