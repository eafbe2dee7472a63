"""The served model's tf.Example signature with outputs BulkInferrer can split.

tfx_bsl's RunInference (BulkInferrer's engine, tfx-bsl 1.16) splits each output
per example with `output[i]` and reads `.dtype` from the piece; a string output
of shape [N] (the CNN's `label_names`) gives a Python `bytes` there and fails
('bytes' object has no attribute 'dtype'). The wrapper calls the served
SavedModel's own signature unchanged and gives each such output a trailing axis
([N] -> [N, 1]); numbers and [N, K] outputs pass through as they are.
"""

from __future__ import annotations

import tensorflow as tf

from contracts import features


class _Wrapper(tf.Module):
    def __init__(self, loaded, signature: str) -> None:
        super().__init__()
        self.loaded = loaded  # tracked: its variables and assets are saved again
        self._call = loaded.signatures[signature]

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=features.EXAMPLES_INPUT_KEY)]
    )
    def serve(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = self._call(**{features.EXAMPLES_INPUT_KEY: examples})
        return {
            name: tf.expand_dims(value, -1)
            if value.dtype == tf.string and value.shape.rank == 1
            else value
            for name, value in outputs.items()
        }


def wrap_for_bulk_inference(
    source_dir: str, target_dir: str, signature: str = features.EXAMPLES_SIGNATURE
) -> None:
    """Saves to `target_dir` a SavedModel whose `signature` calls `source_dir`'s.

    Raises ValueError when the source has no such signature taking `examples`."""
    loaded = tf.saved_model.load(source_dir)
    if signature not in loaded.signatures:
        raise ValueError(
            f"{source_dir}: no {signature!r} signature (found {sorted(loaded.signatures)}); "
            "BulkInferrer scores through the tf.Example signature a pushed CNN has"
        )
    inputs = loaded.signatures[signature].structured_input_signature[1]
    if set(inputs) != {features.EXAMPLES_INPUT_KEY}:
        raise ValueError(
            f"{source_dir}: signature {signature!r} takes {sorted(inputs)}, expected only "
            f"{features.EXAMPLES_INPUT_KEY!r} (serialized tf.Examples)"
        )
    wrapper = _Wrapper(loaded, signature)
    tf.saved_model.save(wrapper, target_dir, signatures={signature: wrapper.serve})
