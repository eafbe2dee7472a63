"""`vrl run image` and the image pipeline's flags, shared with `vrl compile image`.

Each flag's default comes from `ImagePipelineConfig` (or the trainer's own
config for the trainer's flags), so the defaults are written down once.
"""

from __future__ import annotations

import argparse
import os
import types

from contracts.files import SPAN_FOLDER_PATTERN
from models.cnn.limits import TFLITE_QUANTIZATIONS
from pipeline.image_config import ARCHS, INPUT_FORMATS, OPTIMIZERS
from vrl import tracking
from vrl.help_format import DefaultsFormatter, show_default


def add_config_args(p: argparse.ArgumentParser, cluster: bool = False) -> None:
    """The ImagePipelineConfig flags. With `cluster`, paths are as the pods see them."""
    from pipeline import image_config

    d = types.SimpleNamespace(**image_config.defaults())
    where = "as the pods see it: gs://..., s3://... or a mounted path" if cluster else "a folder"
    p.add_argument("--data", required=True, help=f"image data root ({where})")
    if cluster:
        p.add_argument("--serving-base", required=True, help=f"TF Serving model base ({where})")
        p.add_argument(
            "--pattern",
            default=SPAN_FOLDER_PATTERN,
            help="input glob under --data; {SPAN} selects spans (data is not read at compile time)",
        )
    else:
        p.add_argument("--home", default=d.home, help="working folder")
        p.add_argument(
            "--serving-base", default=None, help="TF Serving model base (default: <home>/serving)"
        )
        p.add_argument(
            "--pattern",
            default=None,
            help="input glob under --data; may hold {SPAN} (default: detected)",
        )
    p.add_argument("--model-name", default=d.model_name, help="served model name")
    p.add_argument("--pipeline-name", default=d.pipeline_name, help="TFX pipeline name")
    p.add_argument(
        "--format",
        dest="input_format",
        default=d.input_format,
        choices=INPUT_FORMATS,
        help="input layout",
    )
    p.add_argument("--span", type=int, default=None, help="span to process (default: latest)")
    p.add_argument(
        "--eval-fraction", type=float, default=d.eval_fraction, help="share hashed into eval"
    )
    p.add_argument(
        "--max-bad-fraction", type=float, default=d.max_bad_fraction, help="quarantine limit"
    )
    schema = p.add_mutually_exclusive_group()
    schema.add_argument(
        "--schema",
        dest="schema_path",
        default=None,
        help="curated schema .pbtxt (default: the schema SchemaGen infers)",
    )
    schema.add_argument(
        "--curated-schema",
        action="store_true",
        help="validate against the schema shipped in pipeline/schemas/ instead of SchemaGen's",
    )
    p.add_argument(
        "--no-halt-on-anomalies",
        dest="halt_on_anomalies",
        action="store_false",
        help="report data anomalies without stopping",
    )
    p.add_argument(
        "--max-class-imbalance",
        type=float,
        default=d.max_class_imbalance,
        help="largest/smallest class ratio",
    )
    p.add_argument(
        "--image-size", type=int, default=d.image_size, help="side images are resized to"
    )

    # Trainer flags: unset, the trainer's own default applies (models/cnn/config.py
    # TrainerConfig); help shows it.
    def trainer(flag: str, help: str, **kwargs) -> None:
        action = p.add_argument(flag, help=help, **kwargs)
        show_default(action, lambda: trainer_default(action.dest))

    trainer(
        "--arch", "network: convnet/resnet from scratch, or a pretrained backbone", choices=ARCHS
    )
    p.add_argument(
        "--weights",
        help="backbone weights: 'imagenet' (Keras' published weights, downloaded once), "
        "a local weights file, or 'none' (from scratch) (default: imagenet for the "
        "backbones; convnet/resnet always start from scratch)",
    )
    trainer("--fine-tune-layers", "backbone layers unfrozen in phase 2", type=int)
    trainer("--fine-tune-epochs", "epochs of phase 2", type=int)
    aug = p.add_mutually_exclusive_group()
    aug.add_argument(
        "--augment",
        dest="augment",
        action="store_const",
        const=True,
        help="augment training batches (default: on for the backbones, off for convnet/resnet)",
    )
    aug.add_argument(
        "--no-augment",
        dest="augment",
        action="store_const",
        const=False,
        help="train on the batches as they are (default: see --augment)",
    )
    trainer("--label-smoothing", "label smoothing of the loss (0: off)", type=float)
    trainer("--cache-budget-mb", "decoded-image cache limit", type=int)
    trainer("--optimizer", "optimizer", choices=OPTIMIZERS)
    trainer("--learning-rate", "peak learning rate", type=float)
    trainer("--batch-size", "global batch size", type=int)
    trainer("--epochs", "epochs (of phase 1 for a backbone)", type=int)
    p.add_argument(
        "--no-sanity-checks",
        dest="sanity_checks",
        action="store_const",
        const=False,
        help="skip the init-loss and overfit checks",
    )
    trainer("--seed", "seed of weights, shuffling and the sanity checks", type=int)
    trainer(
        "--deterministic",
        "TensorFlow op determinism in the trainer (same seed, same weights)",
        action=argparse.BooleanOptionalAction,
        default=None,
    )
    p.add_argument(
        "--min-accuracy", type=float, default=d.min_accuracy, help="value threshold to bless"
    )
    p.add_argument(
        "--max-accuracy-drop",
        type=float,
        default=d.max_accuracy_drop,
        help="allowed drop vs the served model",
    )
    # Error analysis and TFLite export (models/cnn/eval_split.py, components/gated_evaluator).
    p.add_argument(
        "--top-k",
        type=int,
        nargs="+",
        default=list(d.top_k),
        help="top-k accuracies to report (k >= the number of classes is skipped)",
    )
    p.add_argument(
        "--tflite",
        choices=TFLITE_QUANTIZATIONS,
        default=d.tflite,
        help="also export a TFLite model into the pushed version's tflite/ folder "
        "(input: the decoded, resized float image tensor; see models/cnn/tflite_export.py) "
        "(default: none, no TFLite export)",
    )
    p.add_argument(
        "--tflite-max-drop",
        type=float,
        default=d.tflite_max_drop,
        help="largest eval-accuracy loss of the TFLite model vs the SavedModel; more: not blessed",
    )
    p.add_argument(
        "--no-cache",
        dest="enable_cache",
        action="store_false",
        help="run every component again (default: off: TFX reuses a component's cached "
        "outputs when its inputs, code and parameters are unchanged)",
    )
    p.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        help="extra Beam pipeline arg, repeatable (e.g. --runner=FlinkRunner)",
    )


def trainer_default(field: str) -> object:
    """TrainerConfig's default for `field`, for help to show (models/cnn/config.py
    imports without TensorFlow, so `--help` stays fast)."""
    import dataclasses

    from models.cnn.config import TrainerConfig

    for f in dataclasses.fields(TrainerConfig):
        if f.name == field and f.default is not dataclasses.MISSING:
            return f.default
    raise KeyError(f"models/cnn/config.py: TrainerConfig has no field {field!r} with a default")


def _schema_path(args: argparse.Namespace) -> str | None:
    from pipeline.image_config import CURATED_SCHEMA

    if getattr(args, "curated_schema", False):
        return CURATED_SCHEMA
    return os.path.abspath(args.schema_path) if args.schema_path else None


def _weights(weights: str | None, local: bool) -> str | None:
    """Local weights files become absolute paths; choices and cluster paths stay as given."""
    from models.cnn.limits import WEIGHT_CHOICES

    if weights is None or weights in WEIGHT_CHOICES or not local:
        return weights
    return os.path.abspath(weights)


def config_from_args(args: argparse.Namespace, pipeline_root: str | None = None):
    """The frozen ImagePipelineConfig from parsed flags (validated on construction).

    Local runs make paths absolute; cluster paths (with `pipeline_root`) are
    kept as given, since they are URIs or paths inside the pods.
    """
    from pipeline.image_config import ImagePipelineConfig

    local = pipeline_root is None
    fix = os.path.abspath if local else (lambda p: p)
    return ImagePipelineConfig(
        data_dir=fix(args.data),
        home=os.path.abspath(args.home) if local else "",
        pipeline_root=pipeline_root,
        pipeline_name=args.pipeline_name,
        serving_base=fix(args.serving_base) if args.serving_base else None,
        model_name=args.model_name,
        input_pattern=args.pattern,
        input_format=args.input_format,
        span=args.span,
        eval_fraction=args.eval_fraction,
        max_bad_fraction=args.max_bad_fraction,
        schema_path=_schema_path(args),
        halt_on_anomalies=args.halt_on_anomalies,
        max_class_imbalance=args.max_class_imbalance,
        image_size=args.image_size,
        arch=args.arch,
        weights=_weights(args.weights, local),
        fine_tune_layers=args.fine_tune_layers,
        fine_tune_epochs=args.fine_tune_epochs,
        augment=args.augment,
        label_smoothing=args.label_smoothing,
        cache_budget_mb=args.cache_budget_mb,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        epochs=args.epochs,
        sanity_checks=args.sanity_checks,
        seed=args.seed,
        deterministic=args.deterministic,
        min_accuracy=args.min_accuracy,
        max_accuracy_drop=args.max_accuracy_drop,
        top_k=tuple(args.top_k),
        tflite=args.tflite,
        tflite_max_drop=args.tflite_max_drop,
        enable_cache=args.enable_cache,
    )


def check_backbone_weights(config) -> None:
    """Loads a backbone's weights once before any component runs, so a missing ImageNet
    download or a weights file of another arch fails in seconds, not in the Trainer."""
    from models.cnn.limits import BACKBONES

    if config.arch in BACKBONES and config.weights != "none":
        from models.cnn.backbones import check_weights

        check_weights(config.arch, config.weights, config.image_size)


def add_parser(run_sub: argparse._SubParsersAction) -> None:
    """Registers `vrl run image`."""
    p = run_sub.add_parser(
        "image",
        help="run the image-classification pipeline locally",
        formatter_class=DefaultsFormatter,
    )
    add_config_args(p)
    tracking.add_args(p)
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    """Runs the image pipeline locally; exit 0 when the gate worked either way."""
    config = config_from_args(args)
    tracked = tracking.from_args(args)
    check_backbone_weights(config)
    from vrl.local import run_image_pipeline

    summary = run_image_pipeline(config, extra_beam_args=args.beam_arg)
    print_summary(config, summary)
    tracking.print_run_folder(tracking.track_image(tracked, config, summary))
    if summary.pushed and summary.pushed_path:
        from vrl.report import print_run_report

        print_run_report(
            summary.pushed_path,
            config.resolved_serving_base,
            config.home,
            config.resolved_pipeline_root,
        )
    # 0 when the gate worked either way (blessed and pushed, or not blessed and
    # not pushed); 1 when nothing was evaluated or a blessed model was not pushed.
    if summary.blessed is None or (summary.blessed and not summary.pushed):
        return 1
    return 0


def print_summary(config, summary) -> None:
    """Prints what a person wants to know after an image pipeline run."""
    print(f"\n== image pipeline '{config.pipeline_name}' ==")
    if summary.ingest:
        ing = summary.ingest
        print(
            f"ingested: {ing.get('examples_written')} examples, "
            f"{ing.get('quarantined')} quarantined of {ing.get('files_seen')} files"
        )
    issues = summary.data_issues
    if issues:
        kinds = ", ".join(f"{i['severity'].lower()} {i['kind']} [{i['split']}]" for i in issues)
        print(f"data checks: {len(issues)} finding(s): {kinds}")
    else:
        print("data checks: no findings")
    acc = summary.metrics.get("sparse_categorical_accuracy")
    if acc is not None:
        print(
            f"eval accuracy: {acc:.4f} on {int(summary.metrics.get('example_count', 0))} examples"
        )
    if not summary.per_class_precision_recall:  # else the error-analysis table shows it
        for name, value in sorted(summary.per_class.items()):
            print(f"  class {name:>12}: {value:.4f}")
    from vrl.results import error_analysis_lines

    for line in error_analysis_lines(summary):
        print(line)
    print(f"blessed: {summary.blessed}")
    if summary.pushed:
        print(f"pushed to: {summary.pushed_path}")
    else:
        print("not pushed (model not blessed); the served model is unchanged")
    print(f"pipeline outputs: {config.resolved_pipeline_root}")
