"""ImageTransform executor: TFX's Transform executor, then the label vocabulary copied over
and the transformed examples' payload format recorded.

The Trainer reads Transform's materialised examples and finds the class names
in `label_vocab.txt` at the root of its Examples artifact (beside the
`Split-*` folders), where ImageExampleGen writes it. TFX's Transform writes
only the transformed splits, so this executor copies the file from each input
Examples artifact to the matching transformed one. Beside it goes
`data_identity.json`: the span, version and input fingerprint ImageExampleGen
recorded on its Examples artifact, which the Trainer's `run_fn` cannot see
(it gets file paths, not artifacts) and records as TensorBoard HParams.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
from collections.abc import Iterator
from typing import Any

import tensorflow as tf
from absl import logging
from tfx import types
from tfx.components.transform import executor as tfx_transform_executor
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

from contracts.features import LABEL_VOCAB_FILENAME
from contracts.files import DATA_IDENTITY_FILE

# Set on Examples by ImageExampleGen as TFX's ExampleGen driver does.
_SPAN, _VERSION, _FINGERPRINT = "span", "version", "input_fingerprint"


def vocab_pairs(sources: list[str], targets: list[str]) -> list[tuple[str, str]]:
    """(source file, target file) of the label vocabulary for each transformed artifact.

    One input artifact per output pairs by position; otherwise every input must
    hold the same vocabulary, and each output gets it.
    """
    if not sources or not targets:
        return []
    files = [posixpath.join(uri, LABEL_VOCAB_FILENAME) for uri in sources]
    missing = [f for f in files if not fileio.exists(f)]
    if missing:
        raise FileNotFoundError(
            f"{missing}: no {LABEL_VOCAB_FILENAME}; ImageTransform expects Examples written by "
            "ImageExampleGen, which puts the class names there, one per line"
        )
    if len(sources) != len(targets):
        contents = {_read(f) for f in files}
        if len(contents) > 1:
            raise ValueError(
                f"the {len(sources)} Examples artifacts given to ImageTransform have different "
                f"{LABEL_VOCAB_FILENAME} files ({files}); transform spans with the same classes"
            )
        files = files[:1] * len(targets)
    return [
        (source, posixpath.join(target, LABEL_VOCAB_FILENAME))
        for source, target in zip(files, targets, strict=True)
    ]


def data_identity(examples: list[types.Artifact]) -> dict[str, str]:
    """What data the transformed examples came from, as HParams strings:
    `data_span` and `data_version` (comma-joined when several Examples
    artifacts were transformed together; "" when unrecorded) and
    `data_fingerprint`, 12 hex digits of sha256 over the input fingerprints."""

    def joined(name: str) -> str:
        # TFX's ExampleGen driver sets custom properties; an Importer sets the
        # Examples type's own `span` and `version` properties.
        return ",".join(
            str(
                a.get_int_custom_property(name) if a.has_custom_property(name) else getattr(a, name)
            )
            for a in examples
            if a.has_custom_property(name) or a.has_property(name)
        )

    prints = [a.get_string_custom_property(_FINGERPRINT) for a in examples]
    digest = hashlib.sha256("\n".join(prints).encode()).hexdigest()[:12] if any(prints) else ""
    return {
        "data_span": joined(_SPAN),
        "data_version": joined(_VERSION),
        "data_fingerprint": digest,
    }


def _read(path: str) -> bytes:
    with fileio.open(path, "rb") as f:
        return f.read()


@contextlib.contextmanager
def graph_optimizer_off() -> Iterator[None]:
    """TensorFlow's graph optimizer (Grappler's meta-optimizer) off while Transform runs.

    Each Beam worker of TFT loads the transform graph and prunes it to the
    outputs it needs; Grappler then optimizes that function on its first call,
    0.4-0.7 s per copy for this graph (its decode loops and conditionals), two
    copies per run, for kernels that decode the images either way. Without it
    (bench/transform_throughput.py, three alternating rounds each): 1,500
    shapes 0.92x the time, 20,000 shapes 0.95x, the same transformed examples.
    The switch is process-wide, so it is put back when Transform ends.
    """
    options = tf.config.optimizer.get_experimental_options()
    previous = options.get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": previous})


class Executor(tfx_transform_executor.Executor):
    """Transform as TFX runs it, plus `label_vocab.txt` beside the transformed splits."""

    def Do(  # noqa: N802 (TFX API)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        sources = [a.uri for a in input_dict[standard_component_specs.EXAMPLES_KEY]]
        targets = [
            a.uri for a in output_dict.get(standard_component_specs.TRANSFORMED_EXAMPLES_KEY, [])
        ]
        pairs = vocab_pairs(sources, targets)  # checked before the Beam job starts
        identity = json.dumps(data_identity(input_dict[standard_component_specs.EXAMPLES_KEY]))
        with graph_optimizer_off():
            super().Do(input_dict, output_dict, exec_properties)
        # TFX's Transform writes tf.Examples but leaves the artifact without the
        # payload_format property, and every reader then warns that it falls back.
        for artifact in output_dict.get(standard_component_specs.TRANSFORMED_EXAMPLES_KEY, []):
            examples_utils.set_payload_format(artifact, example_gen_pb2.FORMAT_TF_EXAMPLE)
        for source, target in pairs:
            fileio.makedirs(posixpath.dirname(target))
            fileio.copy(source, target, overwrite=True)
            logging.info("ImageTransform: copied %s to %s", source, target)
        for target in targets:
            with fileio.open(posixpath.join(target, DATA_IDENTITY_FILE), "w") as f:
                f.write(identity)
