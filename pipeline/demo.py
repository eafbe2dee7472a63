"""`vrl demo`: the main job on the embedded default, end to end.

Makes the demo data, runs the image pipeline and the RL pipeline, starts the
local TF-Serving-compatible server on the serving base they pushed to, and
sends one gRPC prediction and one action query through it.
"""

from __future__ import annotations

import argparse
import glob
import os

IMAGE_MODEL = "image_classifier"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Registers `vrl demo`."""
    p = sub.add_parser("demo", help="run the whole main job locally: data, both pipelines, serving")
    p.add_argument("--home", default="runs/demo", help="working folder (default: %(default)s)")
    p.add_argument("--dataset", default="shapes", choices=["shapes", "digits"])
    p.add_argument("--env", default="CartPole-v1", help="gymnasium id for the RL pipeline")
    p.add_argument("--skip-rl", action="store_true", help="image pipeline and serving only")
    p.set_defaults(func=_cmd_demo)


def _step(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def _cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.cli import build_parser

    parser = build_parser()

    def vrl(*argv: str) -> None:
        parsed = parser.parse_args(list(argv))
        code = parsed.func(parsed)
        if code:
            raise SystemExit(f"`vrl {' '.join(argv)}` failed with exit code {code}")

    home = os.path.abspath(args.home)
    data = os.path.join(home, "data", args.dataset)
    serving_base = os.path.join(home, "serving")
    if not os.path.isdir(data):
        _step(f"1/4 demo data: {args.dataset}")
        vrl("data", args.dataset, "--out", data)
    _step("2/4 image pipeline")
    vrl("run", "image", "--data", data, "--home", home)
    policy_model = None
    if not args.skip_rl:
        _step(f"3/4 RL pipeline: {args.env}")
        vrl("run", "rl", "--env", args.env, "--home", home)
        from pipeline.rl_pipeline import default_model_name

        policy_model = default_model_name(args.env)
    _step("4/4 serving: local TF-Serving-compatible server")
    from serving.server import start_server

    server = start_server(serving_base, grpc_port=0, rest_port=0)
    try:
        server.wait_until_available(IMAGE_MODEL, timeout=120)
        target = f"127.0.0.1:{server.grpc_port}"
        print(f"serving {serving_base} on gRPC {target}, REST 127.0.0.1:{server.rest_port}")
        image = sorted(glob.glob(os.path.join(data, "*", "*")))[0]
        vrl("predict", "--model", IMAGE_MODEL, "--server", target, image)
        if policy_model and os.path.isdir(os.path.join(serving_base, policy_model)):
            server.wait_until_available(policy_model, timeout=120)
            vrl("act", "--model", policy_model, "--server", target, "--obs", "0.02,0.1,-0.03,-0.2")
    finally:
        server.stop()
    return 0
