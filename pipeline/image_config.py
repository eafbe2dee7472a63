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
    """Largest/smallest class count across the whole dataset above which the image checks
    report an error (the eval split alone is a noisy hash sample)."""
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
        if not 0.01 <= self.eval_fraction <= 0.99:
            raise ValueError(
                f"eval_fraction must be in [0.01, 0.99] (splits use 100 hash buckets), "
                f"got {self.eval_fraction}"
            )
        if self.input_format not in ("auto", "folders", "csv", "tfrecord"):
            raise ValueError(
                f"input_format must be 'auto', 'folders', 'csv' or 'tfrecord', got {self.input_format!r}"
            )
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


def detect_input_pattern(data_dir: str, input_format: str = "auto") -> str:
    """Chooses the input glob for a data folder.

    `span-N/` subfolders mean spans (`span-{SPAN}/...`). Within a span (or the
    folder), `input_format` decides; with 'auto', a `*.csv` at the top means a
    manifest, TFRecord files (`*.tfrecord*`, `*.gz`) mean TFRecords, and class
    sub-folders mean a class-per-folder tree (`*/*`).
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"{data_dir}: data folder does not exist")
    names = sorted(os.listdir(data_dir))
    spans = [n for n in names if n.startswith("span-") and os.path.isdir(os.path.join(data_dir, n))]
    if spans:
        return "span-{SPAN}/" + _pattern_in(os.path.join(data_dir, spans[0]), input_format)
    return _pattern_in(data_dir, input_format)


def _pattern_in(folder: str, input_format: str) -> str:
    names = sorted(os.listdir(folder))
    csvs = [n for n in names if n.lower().endswith(".csv")]
    records = [n for n in names if ".tfrecord" in n.lower() or n.lower().endswith(".gz")]
    has_dirs = any(os.path.isdir(os.path.join(folder, n)) for n in names)
    if input_format == "csv" or (input_format == "auto" and csvs):
        if not csvs:
            raise ValueError(f"{folder}: --format csv but no *.csv manifest (path,label) found")
        if len(csvs) == 1 and not csvs[0].endswith(".csv"):
            return csvs[0]  # e.g. LABELS.CSV: globs are case-sensitive
        return "*.csv"
    if input_format == "tfrecord" or (input_format == "auto" and records and not has_dirs):
        if not records:
            raise ValueError(f"{folder}: --format tfrecord but no *.tfrecord* or *.gz files found")
        return "*" if len(set(_suffix(n) for n in records)) > 1 else "*" + _suffix(records[0])
    if not has_dirs:
        raise ValueError(
            f"{folder}: expected class sub-folders (class-per-folder), a *.csv manifest "
            "(path,label) or TFRecord files; found none"
        )
    return "*/*"


def _suffix(name: str) -> str:
    """'part-0.tfrecord.gz' -> '.tfrecord.gz'; 'x.gz' -> '.gz'."""
    low = name.lower()
    i = low.find(".tfrecord")
    return name[i:] if i >= 0 else name[name.rfind(".") :]
