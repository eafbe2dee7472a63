"""ImageTransform: `tfx.components.Transform` with the label vocabulary carried along.

Same spec, parameters and Beam executor as TFX's Transform; after
materialising the transformed splits, the executor copies `label_vocab.txt`
from the input Examples to the transformed Examples, so a Trainer fed the
transformed examples knows the class names (models/cnn/trainer.py).
"""

from __future__ import annotations

from tfx.components.transform.component import Transform
from tfx.dsl.components.base import executor_spec

from components.image_transform.executor import Executor


class ImageTransform(Transform):
    """TFX Transform whose transformed Examples carry `label_vocab.txt`."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
