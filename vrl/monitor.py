"""`vrl monitor MODEL`: is the served traffic still like the span the model learned from?

Reads the request logs a model's `logging_config` wrote in a time window, turns
them into feature rows (vrl/drift.py), and for each version that answered,
compares them with the same rows of the training span named by the version's
provenance (`assets.extra/vrl_provenance.json`), scored by that version; a
policy's logged observations are compared with those its evaluation episodes
showed it (vrl/monitor_policy.py). Writes TFDV statistics, the schema holding
the thresholds (edit it, then pass it back with --schema), TFDV anomalies and
the verdict `vrl report` shows; prints one table; exits 1 naming the drifted
features, 0 when nothing crossed its threshold.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

from vrl.monitor_files import SCHEMA_NAME, default_out

_WINDOW = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
EXIT_DRIFT = 1
EXIT_BAD_INPUT = 2


def parse_window(text: str) -> float:
    """Seconds of a window like `90m`, `24h`, `7d` or `3600`."""
    match = _WINDOW.match(text.strip())
    if not match:
        raise ValueError(f"--window {text!r}: expected a number with s, m, h or d, e.g. 24h")
    return float(match[1]) * _UNIT_S[match[2]]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers `vrl monitor`."""
    p = sub.add_parser(
        "monitor",
        help="served traffic (request logs) vs the training span (a policy: its evaluation "
        "episodes): TFDV skew, exit 1 on drift",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("model", help="model name, as in the model config file")
    p.add_argument(
        "--model-config",
        required=True,
        help="TF Serving model config file with the model's base_path and logging_config",
    )
    p.add_argument("--window", default="24h", help="how far back to read the logs")
    p.add_argument("--out", default=None, help="output folder (default: monitor/<model>)")
    p.add_argument(
        "--schema",
        default=None,
        help=f"TFDV schema with the thresholds (default: <out>/{SCHEMA_NAME}, written "
        "with default thresholds on the first run)",
    )
    p.add_argument(
        "--training-sample", type=int, default=1000, help="training images scored at most"
    )
    p.set_defaults(func=_cmd_monitor)


def _cmd_monitor(args: argparse.Namespace) -> int:
    try:
        window = parse_window(args.window)
        from serving.model_config import load_config_file

        specs = {s.name: s for s in load_config_file(args.model_config)}
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    spec = specs.get(args.model)
    if spec is None or not spec.log_filename_prefix:
        what = "is not in" if spec is None else "has no logging_config in"
        print(f"error: model {args.model!r} {what} {args.model_config}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from vrl import monitor_run

    out = args.out or default_out(args.model)
    schema = args.schema or os.path.join(out, SCHEMA_NAME)
    try:
        now = time.time()
        drifted = monitor_run.run(spec, now - window, now, out, schema, args.training_sample)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if drifted:
        print(f"DRIFT in {args.model}: {', '.join(drifted)}", file=sys.stderr)
        return EXIT_DRIFT
    return 0
