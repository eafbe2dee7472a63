"""TF Serving's model config: its file name beside the models, and which
versions an entry serves.

A `ModelServerConfig` text-proto file `<serving_base>/models.config` lists one
entry per model. An entry's version policy picks the loaded versions (`latest`
N, the server's default with N = 1; `all`; `specific`), its version labels
(`stable`, `canary`) name loaded versions. A request naming no version gets
the newest loaded one. The functions take the entry proto (read by attribute,
so nothing here imports TensorFlow Serving) or plain values.
"""

from __future__ import annotations

from collections.abc import Iterable

MODEL_CONFIG_FILE = "models.config"
"""The model config's file name, kept beside the models: `<serving_base>/models.config`."""
STABLE_LABEL = "stable"
"""The label production traffic follows (taken when a config has labels and none is named)."""
DEFAULT_POLICY = "latest"
"""TF Serving's version policy when an entry sets none (with one version)."""


def model_entry(config, model_name: str):
    """The `ModelConfig` entry of a `ModelServerConfig` named `model_name`, or None."""
    for entry in config.model_config_list.config:
        if entry.name == model_name:
            return entry
    return None


def policy_choice(entry) -> str:
    """The entry's version policy: "latest" (also when unset), "all" or "specific"."""
    return entry.model_version_policy.WhichOneof("policy_choice") or DEFAULT_POLICY


def loaded_versions(
    policy: str, available: Iterable[int], num_versions: int = 1, specific: Iterable[int] = ()
) -> list[int]:
    """Versions out of `available` a version policy loads, ascending: "specific"
    the listed ones that exist, "all" every one, "latest" the newest
    `num_versions` (at least one, as TF Serving reads 0 as unset)."""
    available = sorted(set(available))
    if policy == "specific":
        return sorted(set(specific) & set(available))
    if policy == "all":
        return available
    return available[-max(num_versions, 1) :]


def entry_loaded_versions(entry, available: Iterable[int]) -> list[int]:
    """Versions out of `available` the entry's version policy loads, ascending."""
    policy = entry.model_version_policy
    return loaded_versions(
        policy_choice(entry), available, policy.latest.num_versions, policy.specific.versions
    )


def default_label(labels: Iterable[str], label: str = "") -> str:
    """The label that picks the production version: `label` when named, else
    `stable` when the entry has it, else "" (the version policy decides)."""
    return label or (STABLE_LABEL if STABLE_LABEL in set(labels) else "")
