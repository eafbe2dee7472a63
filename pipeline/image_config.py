"""Configuration of the image-classification pipeline (one frozen dataclass)."""

from __future__ import annotations

import dataclasses
import os

# The curated schema shipped with the package (see the file's header).
CURATED_SCHEMA = os.path.join(os.path.dirname(__file__), "schemas", "image_examples.pbtxt")


@dataclasses.dataclass(frozen=True)
class ImagePipelineConfig:
    """Everything the image pipeline needs; defaults live here and only here."""

    data_dir: str
    """Input base: a class-per-folder tree, a folder with a CSV manifest, or TFRecords."""
    home: str = "runs"
    """Working folder: pipeline outputs, ML Metadata and (by default) the serving base."""
    pipeline_root: str | None = None
    """Where TFX writes artifacts; default <home>/tfx/<pipeline_name> (gs://... on Kubeflow)."""
    pipeline_name: str = "image-classifier"
    """TFX pipeline name ([a-z0-9-], as Kubeflow requires; keys its ML Metadata contexts)."""
    serving_base: str | None = None
    """TF Serving model base path; default <home>/serving."""
    model_name: str = "image_classifier"
    """Name the model is served under: <serving_base>/<model_name>/<version>/."""
    input_pattern: str | None = None
    """Glob relative to data_dir; may contain {SPAN}. Default: detected from the folder."""
    input_format: str = "auto"
    """'auto', 'folders', 'csv' or 'tfrecord'."""
    span: int | None = None
    """With {SPAN} in the pattern: process this span (default: the latest)."""
    eval_fraction: float = 0.2
    """Share of examples hashed into the eval split."""
    max_bad_fraction: float = 0.05
    """ImageExampleGen fails when more than this share of input files is quarantined."""
    schema_path: str | None = None
    """Curated schema (.pbtxt) to use instead of SchemaGen's inferred one."""
    halt_on_anomalies: bool = True
    """Stop before Transform when ExampleValidator or the image checks report errors."""
    max_class_imbalance: float = 3.0
    """Largest/smallest class count per split above which the image checks report an error."""
    image_size: int = 32
    """Side in pixels images are resized to inside the graph (training and serving)."""
    # Trainer hyperparameters: None means the trainer's own default
    # (models/cnn/config.py holds those, once).
    arch: str | None = None
    """'convnet' (conv/pool, 64 then 128 filters) or 'resnet' (small residual net)."""
    optimizer: str | None = None
    """'adam', 'sgd' (with momentum) or 'rmsprop'."""
    learning_rate: float | None = None
    """Peak learning rate."""
    batch_size: int | None = None
    """Training batch size."""
    epochs: int | None = None
    """Maximum epochs; early stopping may end training sooner."""
    sanity_checks: bool | None = None
    """Check loss at init ~ ln(num_classes) and overfitting one batch before training."""
    seed: int | None = None
    """Seed for weight init and shuffling."""
    min_accuracy: float = 0.9
    """Evaluator value threshold: eval accuracy must reach this to bless."""
    max_accuracy_drop: float = 0.01
    """Evaluator change threshold: may be at most this much worse than the blessed model."""
    enable_cache: bool = True
    """Reuse results of components whose inputs did not change."""

    def __post_init__(self) -> None:
        if not 0.0 < self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in (0, 1), got {self.eval_fraction}")
        if not 0.0 <= self.max_bad_fraction <= 1.0:
            raise ValueError(f"max_bad_fraction must be in [0, 1], got {self.max_bad_fraction}")
        if self.arch not in (None, "convnet", "resnet"):
            raise ValueError(f"arch must be 'convnet' or 'resnet', got {self.arch!r}")
        if self.optimizer not in (None, "adam", "sgd", "rmsprop"):
            raise ValueError(
                f"optimizer must be 'adam', 'sgd' or 'rmsprop', got {self.optimizer!r}"
            )

    @property
    def resolved_pipeline_root(self) -> str:
        """The pipeline root actually used."""
        return self.pipeline_root or os.path.join(self.home, "tfx", self.pipeline_name)

    @property
    def resolved_serving_base(self) -> str:
        """The serving base path actually used."""
        return self.serving_base or os.path.join(self.home, "serving")

    def trainer_config(self) -> dict:
        """custom_config handed to models.cnn.trainer.run_fn (only what was set)."""
        fields = (
            "arch",
            "optimizer",
            "learning_rate",
            "batch_size",
            "epochs",
            "sanity_checks",
            "seed",
        )
        config = {"image_size": self.image_size}
        config.update({f: getattr(self, f) for f in fields if getattr(self, f) is not None})
        return config


def detect_input_pattern(data_dir: str) -> str:
    """Chooses the input glob for a data folder.

    `span-N/` subfolders mean spans (`span-{SPAN}/...`); a `*.csv` at the top
    means a manifest; `*.tfrecord*` files mean TFRecords; otherwise a
    class-per-folder tree (`*/*`).
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"{data_dir}: data folder does not exist")
    names = sorted(os.listdir(data_dir))
    if any(n.startswith("span-") and os.path.isdir(os.path.join(data_dir, n)) for n in names):
        sample = next(n for n in names if n.startswith("span-"))
        return "span-{SPAN}/" + _pattern_in(os.path.join(data_dir, sample))
    return _pattern_in(data_dir)


def _pattern_in(folder: str) -> str:
    names = sorted(os.listdir(folder))
    if any(n.endswith(".csv") for n in names):
        return "*.csv"
    if any(".tfrecord" in n for n in names):
        return "*.tfrecord*"
    if not any(os.path.isdir(os.path.join(folder, n)) for n in names):
        raise ValueError(
            f"{folder}: expected class sub-folders (class-per-folder), a *.csv manifest "
            "(path,label) or *.tfrecord files; found none"
        )
    return "*/*"
