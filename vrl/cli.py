"""`vrl`: the command line.

Only argparse and the standard library are imported at start-up; TensorFlow
and TFX are imported inside the commands that need them, so `vrl --help`
answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings


def _add_data_parsers(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="write demo datasets")
    dsub = data.add_subparsers(dest="dataset", required=True)
    shapes = dsub.add_parser("shapes", help="synthetic drawn shapes, class-per-folder, PNG+JPEG")
    shapes.add_argument("--out", required=True, help="output folder")
    shapes.add_argument("--per-class", type=int, default=300, help="images per class and span")
    shapes.add_argument("--seed", type=int, default=0)
    shapes.add_argument("--spans", type=int, default=1, help=">1 writes span-1/, span-2/, ...")
    shapes.set_defaults(func=_cmd_data_shapes)
    digits = dsub.add_parser("digits", help="scikit-learn's handwritten digits as PNG files")
    digits.add_argument("--out", required=True, help="output folder")
    digits.set_defaults(func=_cmd_data_digits)


def _cmd_data_shapes(args: argparse.Namespace) -> int:
    from vrl import demo_data

    summary = demo_data.make_shapes(
        args.out, per_class=args.per_class, seed=args.seed, spans=args.spans
    )
    print(f"wrote {summary}")
    return 0


def _cmd_data_digits(args: argparse.Namespace) -> int:
    from vrl import demo_data

    print(f"wrote {demo_data.make_digits(args.out)}")
    return 0


def _add_image_parser(run_sub: argparse._SubParsersAction) -> None:
    from pipeline.image_config import ImagePipelineConfig

    d = ImagePipelineConfig(data_dir="")
    p = run_sub.add_parser("image", help="run the image-classification pipeline locally")
    p.add_argument("--data", required=True, help="image folder, CSV manifest folder or TFRecords")
    p.add_argument("--home", default=d.home, help="working folder (default: %(default)s)")
    p.add_argument("--serving-base", default=None, help="default: <home>/serving")
    p.add_argument("--model-name", default=d.model_name)
    p.add_argument("--pipeline-name", default=d.pipeline_name)
    p.add_argument("--pattern", default=None, help="input glob under --data; may hold {SPAN}")
    p.add_argument(
        "--format",
        dest="input_format",
        default=d.input_format,
        choices=["auto", "folders", "csv", "tfrecord"],
    )
    p.add_argument("--span", type=int, default=None, help="span to process (default: latest)")
    p.add_argument("--eval-fraction", type=float, default=d.eval_fraction)
    p.add_argument("--max-bad-fraction", type=float, default=d.max_bad_fraction)
    schema = p.add_mutually_exclusive_group()
    schema.add_argument("--schema", dest="schema_path", default=None, help="curated schema .pbtxt")
    schema.add_argument(
        "--curated-schema",
        action="store_true",
        help="validate against the schema shipped in pipeline/schemas/ instead of SchemaGen's",
    )
    p.add_argument("--no-halt-on-anomalies", dest="halt_on_anomalies", action="store_false")
    p.add_argument("--max-class-imbalance", type=float, default=d.max_class_imbalance)
    p.add_argument("--image-size", type=int, default=d.image_size)
    tr = "default: the trainer's, see models/cnn/config.py"
    p.add_argument("--arch", choices=["convnet", "resnet"], help=tr)
    p.add_argument("--optimizer", choices=["adam", "sgd", "rmsprop"], help=tr)
    p.add_argument("--learning-rate", type=float, help=tr)
    p.add_argument("--batch-size", type=int, help=tr)
    p.add_argument("--epochs", type=int, help=tr)
    p.add_argument("--no-sanity-checks", dest="sanity_checks", action="store_const", const=False)
    p.add_argument("--seed", type=int, help=tr)
    p.add_argument("--min-accuracy", type=float, default=d.min_accuracy)
    p.add_argument("--max-accuracy-drop", type=float, default=d.max_accuracy_drop)
    p.add_argument("--no-cache", dest="enable_cache", action="store_false")
    p.add_argument(
        "--beam-arg",
        action="append",
        default=[],
        help="extra Beam pipeline arg, repeatable (e.g. --runner=FlinkRunner)",
    )
    p.set_defaults(func=_cmd_run_image)


def _schema_path(args: argparse.Namespace) -> str | None:
    from pipeline.image_config import CURATED_SCHEMA

    if getattr(args, "curated_schema", False):
        return CURATED_SCHEMA
    return os.path.abspath(args.schema_path) if args.schema_path else None


def image_config_from_args(args: argparse.Namespace):
    """Builds the frozen pipeline config from parsed arguments."""
    from pipeline.image_config import ImagePipelineConfig

    return ImagePipelineConfig(
        data_dir=os.path.abspath(args.data),
        home=os.path.abspath(args.home),
        pipeline_name=args.pipeline_name,
        serving_base=os.path.abspath(args.serving_base) if args.serving_base else None,
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
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        epochs=args.epochs,
        sanity_checks=args.sanity_checks,
        seed=args.seed,
        min_accuracy=args.min_accuracy,
        max_accuracy_drop=args.max_accuracy_drop,
        enable_cache=args.enable_cache,
    )


def _cmd_run_image(args: argparse.Namespace) -> int:
    config = image_config_from_args(args)
    from vrl.local import run_image_pipeline

    summary = run_image_pipeline(config, extra_beam_args=args.beam_arg)
    print_image_summary(config, summary)
    # 0 when the gate worked either way (blessed and pushed, or not blessed and
    # not pushed); 1 when nothing was evaluated or a blessed model was not pushed.
    if summary.blessed is None or (summary.blessed and not summary.pushed):
        return 1
    return 0


def print_image_summary(config, summary) -> None:
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
    for name, value in sorted(summary.per_class.items()):
        print(f"  class {name:>12}: {value:.4f}")
    print(f"blessed: {summary.blessed}")
    if summary.pushed:
        print(f"pushed to: {summary.pushed_path}")
    else:
        print("not pushed (model not blessed); the served model is unchanged")
    print(f"pipeline outputs: {config.resolved_pipeline_root}")


def _add_compile_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compile", help="compile a pipeline for Kubeflow Pipelines v2")
    p.add_argument("pipeline", choices=["image", "rl"])
    p.add_argument("--out", required=True, help="output pipeline spec JSON")
    p.add_argument("--pipeline-root", required=True, help="e.g. gs://bucket/root (writable now)")
    p.add_argument("--data", default="/data/images", help="image data path as the pods see it")
    p.add_argument("--serving-base", default="/models", help="serving base as the pods see it")
    p.add_argument("--image", default="vision-rl-pipeline:latest", help="container image")
    p.add_argument("--beam-arg", action="append", default=[])
    p.set_defaults(func=_cmd_compile)


def _cmd_compile(args: argparse.Namespace) -> int:
    from kubeflow.compile import compile_pipeline

    path = compile_pipeline(
        args.pipeline,
        output_file=args.out,
        pipeline_root=args.pipeline_root,
        data_dir=args.data,
        serving_base=args.serving_base,
        image=args.image,
        beam_pipeline_args=args.beam_arg,
    )
    print(f"wrote {path}")
    return 0


def _add_submit_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="submit a compiled spec to Kubeflow Pipelines")
    p.add_argument("package", help="JSON written by `vrl compile`")
    p.add_argument("--host", required=True, help="Kubeflow Pipelines API endpoint")
    p.add_argument("--experiment", default="vision-rl-pipeline")
    p.add_argument("--run-name", default=None)
    p.add_argument("--cron", default=None, help="recurring run, 6 fields: '0 0 3 * * *'")
    p.add_argument("--namespace", default=None)
    p.set_defaults(func=_cmd_submit)


def _cmd_submit(args: argparse.Namespace) -> int:
    from kubeflow.submit import submit

    result = submit(
        args.package,
        host=args.host,
        experiment=args.experiment,
        run_name=args.run_name,
        cron=args.cron,
        namespace=args.namespace,
    )
    print(f"created {result.kind} {result.id} in experiment {result.experiment}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full `vrl` argument parser (cheap to build: no TF imports)."""
    parser = argparse.ArgumentParser(
        prog="vrl",
        description="vision-rl-pipeline: TFX pipelines for image classifiers and DQN "
        "policies, evaluated and pushed to TensorFlow Serving.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data_parsers(sub)
    run = sub.add_parser("run", help="run a pipeline locally (LocalDagRunner, SQLite MLMD)")
    run_sub = run.add_subparsers(dest="pipeline", required=True)
    _add_image_parser(run_sub)
    from vrl import rl as rl_cli

    rl_cli.add_parser(run_sub)
    from vrl import serve as serving_cli

    serving_cli.add_parsers(sub)
    _add_compile_parser(sub)
    _add_submit_parser(sub)
    from vrl import demo

    demo.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `vrl` console script."""
    # tf-agents 0.19 on TF 2.16 needs Keras 2; must be set before TF is imported.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # google-api-core warns on every import that Python 3.10 is past its
    # support window; TFX 1.16 requires 3.10, so the warning is not actionable.
    warnings.filterwarnings("ignore", category=FutureWarning, module="google")
    args = build_parser().parse_args(argv)
    start = time.time()
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as e:
        print(f"vrl: error: {e}", file=sys.stderr)
        return 2
    if args.command in ("run", "demo"):
        print(f"({time.time() - start:.0f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
