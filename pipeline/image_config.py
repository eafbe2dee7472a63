"""Configuration of the image-classification pipeline (one frozen dataclass)."""

from __future__ import annotations

import dataclasses
import os

from contracts.files import FOLDER_PATTERN, SPAN_FOLDER_PREFIX
from contracts.names import MODEL_NAME, PIPELINE_NAME
from models.cnn import limits
from models.cnn.config import TrainerConfig
from models.fields import Check, field_check, normalize, problems, setting

INPUT_FORMATS = ("auto", "folders", "csv", "tfrecord")
SHARED_WITH_TRAINER = ("image_size", "top_k")
"""Fields set here that the trainer's config also holds: Transform/Evaluator and the
Trainer must agree, so the pipeline's value is the one value (set them here)."""

# The curated schema shipped with the package (see the file's header).
CURATED_SCHEMA = os.path.join(os.path.dirname(__file__), "schemas", "image_examples.pbtxt")
_FRACTION = Check(kind=float, low=0.0, high=1.0)


@dataclasses.dataclass(frozen=True)
class ImagePipelineConfig:
    """Everything the image pipeline needs; defaults live here and only here, the
    trainer's in `trainer` (models/cnn/config.py)."""

    data_dir: str = setting(nonempty=True)
    """Input base: a class-per-folder tree, a folder with a CSV manifest, or TFRecords."""
    home: str = setting("runs")
    """Working folder: pipeline outputs, ML Metadata and (by default) the serving base."""
    pipeline_root: str | None = setting(None, nonempty=True, optional=True)
    """Where TFX writes artifacts; default <home>/tfx/<pipeline_name> (gs://... on Kubeflow)."""
    pipeline_name: str = setting(
        "image-classifier", pattern=PIPELINE_NAME.pattern, why="(Kubeflow's rule)"
    )
    """TFX pipeline name ([a-z0-9-], as Kubeflow requires; keys its ML Metadata contexts)."""
    serving_base: str | None = setting(None, nonempty=True, optional=True)
    """TF Serving model base path; default <home>/serving."""
    model_name: str = setting(
        "image_classifier", pattern=MODEL_NAME.pattern, why="(it names the serving folder)"
    )
    """Name the model is served under: <serving_base>/<model_name>/<version>/."""
    input_pattern: str | None = setting(None, nonempty=True, optional=True)
    """Glob relative to data_dir; may contain {SPAN}. Default: detected from the folder."""
    input_format: str = setting("auto", choices=INPUT_FORMATS)
    """Input layout: 'auto', 'folders', 'csv' or 'tfrecord'."""
    span: int | None = setting(None, kind=int, low=0, optional=True)
    """With {SPAN} in the pattern: process this span (default: the latest)."""
    eval_fraction: float = setting(
        0.2, kind=float, low=0.01, high=0.99, why="(splits use 100 hash buckets)"
    )
    """Share of examples hashed into the eval split."""
    max_bad_fraction: float = setting(0.05, like=_FRACTION)
    """ImageExampleGen fails when more than this share of input files is quarantined."""
    schema_path: str | None = setting(None, nonempty=True, optional=True)
    """Curated schema (.pbtxt) to use instead of SchemaGen's inferred one."""
    halt_on_anomalies: bool = setting(True, kind=bool)
    """Stop before Transform when ExampleValidator or the image checks report errors."""
    halt_on_span_drift: bool = setting(False, kind=bool)
    """Stop before Transform when the new span drifted from the span the served model was
    trained on (SpanDrift, TFDV's drift comparators); without it a drift is reported in
    the run's summary and training goes on."""
    max_span_drift_l_infinity: float = setting(0.25, like=_FRACTION)
    """Span drift threshold of categorical features (format, label_name): the largest
    L-infinity distance between their value shares in the new and the served span."""
    max_span_drift_js_divergence: float = setting(0.25, like=_FRACTION)
    """Span drift threshold of numeric features (height, width, channels): the largest
    Jensen-Shannon divergence between their histograms in the new and the served span."""
    max_class_imbalance: float = setting(3.0, kind=float, low=1.0)
    """Largest/smallest class count across the whole dataset above which the image checks
    report an error (the eval split alone is a noisy hash sample)."""
    image_size: int = setting(32, like=field_check(TrainerConfig, "image_size"), optional=False)
    """Side in pixels images are resized to inside the graph: Transform's, and so the
    Trainer's and the served model's."""
    min_accuracy: float = setting(0.9, like=_FRACTION)
    """Evaluator value threshold: eval accuracy must reach this to bless, overall and
    for each class on its own (a class's accuracy is its recall), so one class below it
    blocks the push."""
    max_accuracy_drop: float = setting(0.01, like=_FRACTION)
    """Evaluator change threshold: may be at most this much worse than the model in
    production, overall and for each class on its own."""
    baseline_label: str = setting("")
    """Version label in the serving base's model config (<serving_base>/models.config)
    that names the model in production, the baseline a candidate is gated against;
    empty takes 'stable' when the model has labels, else the version policy's choice
    (without a config: the newest pushed version)."""
    top_k: tuple[int, ...] = setting(limits.DEFAULT_TOP_K, like=field_check(TrainerConfig, "top_k"))
    """Top-k accuracies reported by the Evaluator (TFMA) and the trainer's error analysis;
    k >= the number of classes is skipped."""
    tflite_max_drop: float = setting(0.02, like=_FRACTION)
    """Largest eval-accuracy loss of the TFLite export (trainer.tflite) against the
    SavedModel; beyond it the model is not blessed (and not pushed)."""
    enable_cache: bool = setting(True, kind=bool)
    """Reuse results of components whose inputs did not change."""
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    """The Trainer's hyperparameters (models/cnn/config.py); its image_size and top_k
    are this config's."""

    def __post_init__(self) -> None:
        normalize(self)
        found = problems(self)
        if not self.home and not self.pipeline_root:
            found.append("home must name a working folder (or set pipeline_root)")
        if not isinstance(self.trainer, TrainerConfig):
            found.append(f"trainer must be a TrainerConfig, got {self.trainer!r}")
        else:
            found += self._share_with_trainer()
        if found:
            raise ValueError("; ".join(f"ImagePipelineConfig.{p}" for p in found))

    def _share_with_trainer(self) -> list[str]:
        """Hands image_size and top_k to the trainer's config (whatever it held) and
        checks the trainer with them (a backbone needs a larger image_size)."""
        if problems(self):  # the shared values are refused above already
            return []
        shared = {name: getattr(self, name) for name in SHARED_WITH_TRAINER}
        try:
            object.__setattr__(self, "trainer", dataclasses.replace(self.trainer, **shared))
        except ValueError as e:
            return [f"trainer: {e}"]
        return []

    @property
    def resolved_pipeline_root(self) -> str:
        """The pipeline root actually used."""
        return self.pipeline_root or os.path.join(self.home, "tfx", self.pipeline_name)

    @property
    def resolved_serving_base(self) -> str:
        """The serving base path actually used."""
        return self.serving_base or os.path.join(self.home, "serving")

    def trainer_config(self) -> dict:
        """custom_config handed to models.cnn.trainer.run_fn: every trainer field (so
        `vrl submit --param` can set any of them), plus the sha256 of a local weights
        file (read here, once per call). image_size is left out: the Trainer reads it
        from Transform's graph, so the one image_size reaches both."""
        config = dataclasses.asdict(self.trainer)
        config.pop("image_size")
        config = {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
        weights = self.trainer.weights
        if weights not in (None, *limits.WEIGHT_CHOICES) and os.path.isfile(weights):
            # The path alone would keep the Trainer cached when the file is
            # replaced in place; its content's hash enters the cache key.
            # Imported here: backbones imports TensorFlow, this module must not.
            from models.cnn import backbones

            config[backbones.WEIGHTS_SHA256_KEY] = backbones.weights_sha256(weights)
        return config


def detect_input_pattern(data_dir: str, input_format: str = "auto", span: int | None = None) -> str:
    """Chooses the input glob for a data folder.

    `span-N/` subfolders mean spans (`span-{SPAN}/...`, laid out as the span to
    ingest is: `span`, default the newest). Within that span (or the folder),
    `input_format` decides; with 'auto', a `*.csv` at the top means a
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
        # The span to ingest decides: a labelled harvest (`span-N/manifest.csv`)
        # after class-per-folder spans is the span the next run ingests.
        newest = max(spans, key=lambda n: (_span_number(n), n))
        return (
            SPAN_FOLDER_PREFIX
            + "{SPAN}/"
            + _pattern_in(os.path.join(data_dir, newest), input_format)
        )
    return _pattern_in(data_dir, input_format)


def _span_number(name: str) -> int:
    """5 for 'span-5'; -1 for a span folder whose suffix is not a number."""
    suffix = name[len(SPAN_FOLDER_PREFIX) :]
    return int(suffix) if suffix.isascii() and suffix.isdigit() else -1


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
