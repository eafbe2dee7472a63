"""The InputFingerprint task: resolves the span and fingerprints its files, so
KFP's cache can key ImageExampleGen (and so everything after it) on the data.

Open-source KFP never runs TFX's ExampleGen driver (nor the `preCacheCheck`
Vertex AI runs), and keys its cache on input artifact IDs and parameter
values only: with `data_root` unchanged, a cached ingest would hide a new
span. This cheap, never-cached task reads the same parameters as
ImageExampleGen, resolves span and version and TFX's input fingerprint
(file count, bytes and mtimes) the way the driver does, and outputs them as
the `input_fingerprint` parameter that the compiler wires into
ImageExampleGen. New or changed files change the parameter, so ingest and its
downstream rerun; unchanged data and config hit the cache from ingest on.
"""

from __future__ import annotations

import json
import os
import sys

from absl import logging

from kubeflow.executor import INVOCATION_FLAG

TASK = "InputFingerprint"
OUTPUT = "input_fingerprint"
# ImageExampleGen's parameters that decide what it reads.
INPUT_PARAMETERS = ("input_base", "input_config", "range_config")


def fingerprint(parameter_values: dict) -> str:
    """'span:N,version:V' and TFX's per-split fingerprint of the files it resolves to."""
    from components.image_example_gen import inputs

    props = inputs.resolve_exec_properties(dict(parameter_values))
    return (
        f"span:{props[inputs.SPAN_KEY]},version:{props[inputs.VERSION_KEY]}\n"
        f"{props[inputs.FINGERPRINT_KEY]}"
    )


def main(argv: list[str]) -> None:
    """Reads the ExecutorInput, writes the fingerprint as the output parameter."""
    executor_input = json.loads(argv[argv.index(INVOCATION_FLAG) + 1])
    value = fingerprint(executor_input["inputs"]["parameterValues"])
    logging.info("%s: %s", TASK, value)
    output_file = executor_input["outputs"]["outputFile"]
    os.makedirs(os.path.dirname(output_file), exist_ok=True)
    with open(output_file, "w") as f:
        json.dump({"parameterValues": {OUTPUT: value}}, f)


if __name__ == "__main__":
    logging.set_verbosity(logging.INFO)
    main(sys.argv[1:])
