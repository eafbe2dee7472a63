"""`vrl`: the command line.

Only argparse and the standard library are imported at start-up; TensorFlow
and TFX are imported inside the commands that need them, so `vrl --help`
answers at once.
"""

from __future__ import annotations

import argparse
import sys

from vrl import demo, entry, harvest, image, infer, kubeflow_cli, monitor, operate, rl
from vrl import serve as serving_cli
from vrl.help_format import DefaultsFormatter, show_default, use_everywhere


def _add_data_parsers(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="write demo datasets")
    dsub = data.add_subparsers(dest="dataset", required=True)
    fmt = DefaultsFormatter
    shapes = dsub.add_parser(
        "shapes", help="synthetic drawn shapes, class-per-folder, PNG+JPEG", formatter_class=fmt
    )
    shapes.add_argument("--out", required=True, help="output folder")
    shapes.add_argument("--per-class", type=int, default=300, help="images per class and span")
    shapes.add_argument("--seed", type=int, default=0, help="random seed of the drawings")
    shapes.add_argument("--spans", type=int, default=1, help=">1 writes span-1/, span-2/, ...")
    shapes.set_defaults(func=_cmd_data_shapes)
    digits = dsub.add_parser(
        "digits", help="scikit-learn's handwritten digits as PNG files", formatter_class=fmt
    )
    digits.add_argument("--out", required=True, help="output folder")
    digits.set_defaults(func=_cmd_data_digits)
    photos = dsub.add_parser(
        "photos",
        help="crops of the sample photos bundled with scikit-learn and scikit-image, JPEG at "
        "several sizes, a quarter stored sideways with an EXIF Orientation tag",
        formatter_class=fmt,
    )
    photos.add_argument("--out", required=True, help="output folder")
    # Unset flags leave make_photos its own defaults; help shows them.
    made = _make_photos_default
    classes = "photo classes: china flower astronaut cat coffee rocket galaxies tissue"
    show_default(photos.add_argument("--classes", nargs="+", help=classes), made("classes"))
    per_class = photos.add_argument(
        "--per-class", type=int, help="images of the first (largest) class"
    )
    show_default(per_class, made("per_class"))
    imbalance = photos.add_argument("--imbalance", type=float, help="largest/smallest class count")
    show_default(imbalance, made("imbalance"))
    show_default(
        photos.add_argument("--seed", type=int, help="random seed of the crops"), made("seed")
    )
    photos.set_defaults(func=_cmd_data_photos)


def _make_photos_default(param: str):
    """The default of one `vrl.demo_photos.make_photos` parameter, read when help is shown."""

    def default() -> object:
        import inspect

        from vrl import demo_photos

        return inspect.signature(demo_photos.make_photos).parameters[param].default

    return default


def _cmd_data_shapes(args: argparse.Namespace) -> int:
    from vrl import demo_data

    summary = demo_data.make_shapes(
        args.out, per_class=args.per_class, seed=args.seed, spans=args.spans
    )
    print(f"wrote {summary}")
    return 0


def _cmd_data_photos(args: argparse.Namespace) -> int:
    from vrl import demo_photos

    given = {"per_class": args.per_class, "imbalance": args.imbalance, "seed": args.seed}
    kwargs = {k: v for k, v in given.items() if v is not None}
    if args.classes:
        kwargs["classes"] = tuple(args.classes)
    print(f"wrote {demo_photos.make_photos(args.out, **kwargs)}")
    return 0


def _cmd_data_digits(args: argparse.Namespace) -> int:
    from vrl import demo_data

    print(f"wrote {demo_data.make_digits(args.out)}")
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
    image.add_parser(run_sub)
    rl.add_parser(run_sub)
    infer.add_parser(run_sub)
    serving_cli.add_parsers(sub)
    kubeflow_cli.add_parsers(sub)
    operate.add_parsers(sub)  # status, label, ...
    harvest.add_parser(sub)
    monitor.add_parser(sub)

    demo.add_parser(sub)
    # Also for the parsers registered without it (the command groups, `vrl run rl`).
    use_everywhere(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `vrl` console script (and of `python -m vrl`)."""
    return entry.main(build_parser, argv)


if __name__ == "__main__":
    sys.exit(main())
