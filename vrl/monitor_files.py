"""What `vrl monitor` writes to its --out folder (`vrl report` reads it back)."""

import os

SCHEMA_NAME = "schema.pbtxt"
VERDICT_FILE = "verdict.json"
"""The last run's verdict at the root of --out (`vrl report` shows it)."""
SERVED_STATS = "served_stats.pbtxt"
REFERENCE_STATS = "training_stats.pbtxt"
"""Per version (`version-<N>/`): TFDV statistics of the traffic and of the reference
(the training span; for a policy, its evaluation episodes), and the anomalies."""
ANOMALIES = "anomalies.pbtxt"
DEFAULT_ROOT = "monitor"
"""--out of `vrl monitor MODEL` is `<DEFAULT_ROOT>/<MODEL>` unless given."""


def default_out(model: str) -> str:
    """Where `vrl monitor MODEL` writes when --out is not given (and `vrl report` looks)."""
    return os.path.join(DEFAULT_ROOT, model)


def version_folder(out: str, version: int | str) -> str:
    """The folder of one answering version's statistics and anomalies."""
    return os.path.join(out, f"version-{version}")
