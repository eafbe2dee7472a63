"""Configuration of the image-classification pipeline (one frozen dataclass)."""

from __future__ import annotations

import dataclasses
import math
import os

from contracts.files import FOLDER_PATTERN, SPAN_FOLDER_PREFIX
from contracts.names import MODEL_NAME, PIPELINE_NAME
from models.cnn import limits

INPUT_FORMATS = ("auto", "folders", "csv", "tfrecord")
ARCHS = limits.ARCHITECTURES
OPTIMIZERS = ("adam", "sgd", "rmsprop")
SEED_LIMIT = 2**32  # numpy's and tf's seeds: 0 <= seed < 2**32

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
    """'convnet' (conv/pool stages) or 'resnet' (small residual net), from scratch; or a
    pretrained backbone: 'mobilenet_v3_small', 'efficientnet_v2_b0', 'resnet50'."""
    weights: str | None = None
    """Backbone weights: 'imagenet' (Keras' published weights, downloaded once), the
    path of a local weights file, or 'none' (from scratch)."""
    fine_tune_layers: int | None = None
    """Backbone layers unfrozen in the second (fine-tuning) phase; 0 trains only the head."""
    fine_tune_epochs: int | None = None
    """Epochs of the fine-tuning phase."""
    augment: bool | None = None
    """Random flip/rotation/zoom/contrast/crop of training batches (never at serving)."""
    label_smoothing: float | None = None
    """Label smoothing of the loss (0 = off)."""
    cache_budget_mb: int | None = None
    """Largest decoded training split the trainer keeps in memory."""
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
    deterministic: bool | None = None
    """TensorFlow op determinism in the trainer (models/reproducibility.py), so a seed
    repeats its weights in any process; it serialises random augmentation in tf.data."""
    min_accuracy: float = 0.9
    """Evaluator value threshold: eval accuracy must reach this to bless."""
    max_accuracy_drop: float = 0.01
    """Evaluator change threshold: may be at most this much worse than the blessed model."""
    baseline_label: str = ""
    """Version label in the serving base's model config (<serving_base>/models.config)
    that names the model in production, the baseline a candidate is gated against;
    empty takes 'stable' when the model has labels, else the version policy's choice
    (without a config: the newest pushed version)."""
    # Error analysis and TFLite export (models/cnn/eval_split.py, components/gated_evaluator).
    top_k: tuple[int, ...] = limits.DEFAULT_TOP_K
    """Top-k accuracies reported by the Evaluator (TFMA) and the trainer's error analysis;
    k >= the number of classes is skipped."""
    tflite: str | None = None
    """Also export a TFLite model beside the SavedModel (<version>/tflite/model.tflite):
    'float16' or 'dynamic' weight quantization; None exports none."""
    tflite_max_drop: float = 0.02
    """Largest eval-accuracy loss of the TFLite export against the SavedModel; beyond it
    the model is not blessed (and not pushed)."""
    enable_cache: bool = True
    """Reuse results of components whose inputs did not change."""

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("; ".join(f"ImagePipelineConfig.{p}" for p in problems))

    @property
    def resolved_pipeline_root(self) -> str:
        """The pipeline root actually used."""
        return self.pipeline_root or os.path.join(self.home, "tfx", self.pipeline_name)

    @property
    def resolved_serving_base(self) -> str:
        """The serving base path actually used."""
        return self.serving_base or os.path.join(self.home, "serving")

    def trainer_config(self) -> dict:
        """custom_config handed to models.cnn.trainer.run_fn (only what was set), plus
        the sha256 of a local weights file (read here, once per call)."""
        fields = (
            "arch",
            "weights",
            "fine_tune_layers",
            "fine_tune_epochs",
            "augment",
            "label_smoothing",
            "cache_budget_mb",
            "optimizer",
            "learning_rate",
            "batch_size",
            "epochs",
            "sanity_checks",
            "seed",
            "deterministic",
        )
        config = {"image_size": self.image_size, "top_k": list(self.top_k)}
        if self.tflite is not None:
            config["tflite"] = self.tflite
        config.update({f: getattr(self, f) for f in fields if getattr(self, f) is not None})
        local_file = self.weights not in (None, *limits.WEIGHT_CHOICES)
        if local_file and os.path.isfile(self.weights):
            # The path alone would keep the Trainer cached when the file is
            # replaced in place; its content's hash enters the cache key.
            from models.cnn import backbones

            config[backbones.WEIGHTS_SHA256_KEY] = backbones.weights_sha256(self.weights)
        return config


def defaults() -> dict:
    """Each field's default (the required `data_dir` has none), for flags to show."""
    return {
        f.name: f.default
        for f in dataclasses.fields(ImagePipelineConfig)
        if f.default is not dataclasses.MISSING
    }


def _in_range(value, low, high) -> bool:
    """low <= value <= high for a finite number (NaN and inf are out of range)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problems(c: ImagePipelineConfig) -> list[str]:
    """One line per invalid field: '<field> must be ..., got ...' (empty when valid)."""
    checks = [
        ("data_dir", bool(c.data_dir), "must name the input folder"),
        ("home", bool(c.home) or bool(c.pipeline_root), "must name a working folder"),
        (
            "pipeline_name",
            bool(PIPELINE_NAME.fullmatch(c.pipeline_name)),
            f"must match {PIPELINE_NAME.pattern} (Kubeflow's rule)",
        ),
        (
            "model_name",
            bool(MODEL_NAME.fullmatch(c.model_name)),
            f"must match {MODEL_NAME.pattern} (it names the serving folder)",
        ),
        ("input_format", c.input_format in INPUT_FORMATS, f"must be one of {INPUT_FORMATS}"),
        ("span", c.span is None or (_is_int(c.span) and c.span >= 0), "must be >= 0"),
        (
            "eval_fraction",
            _in_range(c.eval_fraction, 0.01, 0.99),
            "must be in [0.01, 0.99] (splits use 100 hash buckets)",
        ),
        ("max_bad_fraction", _in_range(c.max_bad_fraction, 0.0, 1.0), "must be in [0, 1]"),
        (
            "max_class_imbalance",
            _in_range(c.max_class_imbalance, 1.0, math.inf),
            "must be a finite ratio >= 1",
        ),
        (
            "image_size",
            _is_int(c.image_size)
            and limits.MIN_IMAGE_SIZE <= c.image_size <= limits.MAX_IMAGE_SIZE,
            f"must be an int in [{limits.MIN_IMAGE_SIZE}, {limits.MAX_IMAGE_SIZE}] pixels",
        ),
        ("arch", c.arch is None or c.arch in ARCHS, f"must be one of {ARCHS}"),
        (
            "image_size",
            c.arch not in limits.BACKBONES or c.image_size >= limits.MIN_BACKBONE_IMAGE_SIZE,
            f"must be >= {limits.MIN_BACKBONE_IMAGE_SIZE} for the pretrained backbones",
        ),
        (
            "weights",
            c.weights is None
            or (c.arch in limits.BACKBONES and bool(c.weights))
            or c.weights == "none",
            "must be 'imagenet', 'none' or a weights file, and 'none' for convnet/resnet",
        ),
        (
            "fine_tune_layers",
            c.fine_tune_layers is None or (_is_int(c.fine_tune_layers) and c.fine_tune_layers >= 0),
            "must be an int >= 0",
        ),
        (
            "fine_tune_epochs",
            c.fine_tune_epochs is None
            or (_is_int(c.fine_tune_epochs) and 0 <= c.fine_tune_epochs <= limits.MAX_EPOCHS),
            f"must be an int in [0, {limits.MAX_EPOCHS}]",
        ),
        (
            "label_smoothing",
            c.label_smoothing is None or _in_range(c.label_smoothing, 0.0, 0.99),
            "must be in [0, 1)",
        ),
        (
            "cache_budget_mb",
            c.cache_budget_mb is None or (_is_int(c.cache_budget_mb) and c.cache_budget_mb >= 0),
            "must be an int >= 0 (megabytes)",
        ),
        (
            "optimizer",
            c.optimizer is None or c.optimizer in OPTIMIZERS,
            f"must be one of {OPTIMIZERS}",
        ),
        (
            "learning_rate",
            c.learning_rate is None
            or (_in_range(c.learning_rate, 0.0, limits.MAX_LEARNING_RATE) and c.learning_rate > 0),
            f"must be in (0, {limits.MAX_LEARNING_RATE}]",
        ),
        (
            "batch_size",
            c.batch_size is None
            or (_is_int(c.batch_size) and 1 <= c.batch_size <= limits.MAX_BATCH_SIZE),
            f"must be an int in [1, {limits.MAX_BATCH_SIZE}]",
        ),
        (
            "epochs",
            c.epochs is None or (_is_int(c.epochs) and 1 <= c.epochs <= limits.MAX_EPOCHS),
            f"must be an int in [1, {limits.MAX_EPOCHS}]",
        ),
        (
            "seed",
            c.seed is None or (_is_int(c.seed) and 0 <= c.seed < SEED_LIMIT),
            "must be an int in [0, 2**32)",
        ),
        (
            "deterministic",
            c.deterministic is None or isinstance(c.deterministic, bool),
            "must be true, false or unset",
        ),
        ("min_accuracy", _in_range(c.min_accuracy, 0.0, 1.0), "must be in [0, 1]"),
        ("max_accuracy_drop", _in_range(c.max_accuracy_drop, 0.0, 1.0), "must be in [0, 1]"),
        (
            "top_k",
            all(_is_int(k) and k >= 1 for k in c.top_k),
            "must be ints >= 1 (e.g. 2 5)",
        ),
        (
            "tflite",
            c.tflite is None or c.tflite in limits.TFLITE_QUANTIZATIONS,
            f"must be one of {limits.TFLITE_QUANTIZATIONS} or unset",
        ),
        ("tflite_max_drop", _in_range(c.tflite_max_drop, 0.0, 1.0), "must be in [0, 1]"),
    ]
    return [
        f"{name} {expected}, got {getattr(c, name)!r}" for name, ok, expected in checks if not ok
    ]


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
    spans = [
        n
        for n in names
        if n.startswith(SPAN_FOLDER_PREFIX) and os.path.isdir(os.path.join(data_dir, n))
    ]
    if spans:
        return (
            SPAN_FOLDER_PREFIX
            + "{SPAN}/"
            + _pattern_in(os.path.join(data_dir, spans[0]), input_format)
        )
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
    return FOLDER_PATTERN


def _suffix(name: str) -> str:
    """'part-0.tfrecord.gz' -> '.tfrecord.gz'; 'x.gz' -> '.gz'."""
    low = name.lower()
    i = low.find(".tfrecord")
    return name[i:] if i >= 0 else name[name.rfind(".") :]
