"""`vrl serve`, `vrl predict` and `vrl act`.

TensorFlow is imported inside the handlers only, so building the parser (and
`vrl --help`) stays fast.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from serving.flags import DEFAULT_HOST, GRPC_PORT, REST_PORT, add_serve_arguments
from vrl import entry
from vrl.help_format import DefaultsFormatter


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Registers `serve`, `predict` and `act`; each sets `func=handler(args) -> int`."""
    serve = subparsers.add_parser(
        "serve",
        help="serve pushed models over TF Serving's gRPC and REST APIs",
        description="Local TF-Serving-compatible server. Accepts tensorflow_model_server's "
        "flags (--port, --rest_api_port, --model_name, --model_base_path, "
        "--model_config_file, ...) as well as the project's own spellings.",
        formatter_class=DefaultsFormatter,
    )
    add_serve_arguments(serve)
    serve.set_defaults(func=serve_command)

    predict = subparsers.add_parser(
        "predict",
        help="classify images with a served CNN",
        formatter_class=DefaultsFormatter,
    )
    _client_args(predict)
    predict.add_argument("--top-k", type=int, default=3, help="labels shown per image")
    predict.add_argument(
        "--labels",
        help="label vocabulary file, one class name per line (default: the names the model "
        "returns, else class_<id>)",
    )
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.set_defaults(func=predict_command)

    act = subparsers.add_parser(
        "act",
        help="ask a served policy for its action",
        formatter_class=DefaultsFormatter,
    )
    _client_args(act)
    observation = act.add_mutually_exclusive_group(required=True)
    observation.add_argument(
        "--obs",
        help="comma-separated observation, e.g. 0.1,0.2,0,0 (use --obs=-1,... for a leading minus)",
    )
    observation.add_argument(
        "--obs-file",
        metavar="FILE.npy",
        help="one observation saved with numpy.save: a vector [D] (sent as float32) or "
        "uint8 stacked frames [H, W, C] for a pixel policy (sent as uint8)",
    )
    act.set_defaults(func=act_command)


def _client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="served model name")
    parser.add_argument("--server", help="host:port (default 127.0.0.1:8500, or :8501 with --rest)")
    parser.add_argument("--rest", action="store_true", help="use the REST API instead of gRPC")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--version",
        help="model version number (default: the server's choice, the latest version)",
    )
    choice.add_argument(
        "--label",
        help="version label from the server's model config, e.g. stable or canary (TF "
        "Serving's ModelSpec.version_label; REST /labels/NAME; default: none, --version "
        "applies)",
    )
    parser.add_argument("--signature", default="serving_default", help="signature to call")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per call")


def serve_command(args: argparse.Namespace) -> int:
    """Runs the server until SIGINT/SIGTERM (or writes a production config)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.write_config:
        if not args.model_base:
            print("error: --write-config needs --model-base", file=sys.stderr)
            return 2
        from serving import deploy

        names = deploy.write_models_config(
            args.model_base, args.write_config, args.container_base, args.num_versions
        )
        print(f"wrote {args.write_config} for models {', '.join(names)}")
        try:
            print(
                deploy.docker_run_command(
                    args.model_base, args.write_config, container_base=args.container_base
                )
            )
        except ValueError as e:
            print(f"(no docker line: {e})")
        return 0
    from serving.errors import ServingError
    from serving.flags import server_options

    try:
        options = server_options(args)  # bad flags refused before TensorFlow is imported
        from serving.server import start_server

        handle = start_server(options)
    except (ValueError, OSError, RuntimeError, ServingError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    def _stop(signum: int, frame: object) -> None:
        # stop() joins threads; run it off the signal handler.
        threading.Thread(target=handle.stop, daemon=True).start()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    grpc_at = f"{args.host}:{handle.grpc_port}" if handle.grpc_port else "off"
    rest_at = f"http://{args.host}:{handle.rest_port}" if handle.rest_port else "off"
    print(
        f"serving {handle.core.registry.available()}: gRPC {grpc_at}, REST {rest_at} "
        "(Ctrl-C stops)",
        flush=True,
    )
    if failure := handle.wait():
        print(f"error: the model watcher died ({failure}); restart vrl serve", file=sys.stderr)
        return 1
    return 0


def _target(args: argparse.Namespace) -> str:
    return args.server or f"{DEFAULT_HOST}:{REST_PORT if args.rest else GRPC_PORT}"


def _version_number(args: argparse.Namespace) -> int | None:
    """`--version` as a number; a label given there is refused in one line naming --label."""
    if args.version is None:
        return None
    if args.version.isdigit():
        return int(args.version)
    raise ValueError(
        f"--version {args.version}: a version is a number; to address the label "
        f"{args.version!r} use --label {args.version}"
    )


def _call(args: argparse.Namespace, grpc_fn, rest_fn):
    """Runs a client call; returns (result, None) or (None, exit code) after printing the error."""
    import grpc

    from serving.client import GrpcClient, RestClient, RestError

    try:
        if args.rest:
            client = RestClient(_target(args), timeout=args.timeout)
            try:
                return rest_fn(client), None
            finally:
                client.close()
        with GrpcClient(_target(args), timeout=args.timeout) as client:
            return grpc_fn(client), None
    except grpc.RpcError as e:
        print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
    except (RestError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
    return None, 1


def predict_command(args: argparse.Namespace) -> int:
    """Prints the top-k labels and probabilities of each image."""
    import numpy as np

    from serving.client import top_k

    images = []
    for path in args.images:
        try:
            with open(path, "rb") as f:
                images.append(f.read())
        except OSError as e:
            print(f"error: cannot read image {path}: {e}", file=sys.stderr)
            return 2
    labels = None
    if args.labels:
        with open(args.labels, encoding="utf-8") as f:
            labels = [line.strip() for line in f if line.strip()]
    version = _version_number(args)
    kwargs = {"version": version, "version_label": args.label, "signature_name": args.signature}
    rest_kwargs = {"version": version, "label": args.label}

    def via_rest(client):
        body = {"signature_name": args.signature, "instances": _b64_instances(images)}
        rows = client.predict(args.model, body, **rest_kwargs)["predictions"]
        return (
            np.array([r["probabilities"] for r in rows]),
            [r["label_names"] for r in rows],
            [r.get("classes") for r in rows],
        )

    def via_grpc(client):
        out = client.predict_images(args.model, images, **kwargs)
        names = [n.decode("utf-8", "replace") for n in out["label_names"]]
        classes = out.get("classes")
        if classes is None:
            return out["probabilities"], names, [None] * len(names)
        return (
            out["probabilities"],
            names,
            [[c.decode("utf-8", "replace") for c in row] for row in classes],
        )

    result, code = _call(args, via_grpc, via_rest)
    if result is None:
        return code
    probabilities, top_names, all_names = result
    for path, row, name, classes in zip(
        args.images, probabilities, top_names, all_names, strict=True
    ):
        ranked = top_k(row, args.top_k, labels or classes)
        if labels is None and classes is None:  # only the top class is named by the model
            ranked[0] = (name, ranked[0][1])
        print(path)
        for label, p in ranked:
            print(f"  {label:<20} {p:.4f}")
    return 0


def _b64_instances(images: list[bytes]) -> list[dict]:
    import base64

    return [{"b64": base64.b64encode(b).decode("ascii")} for b in images]


def _read_observation(args: argparse.Namespace):
    """One observation as a numpy array (float32 from --obs, the file's dtype from
    --obs-file); prints the error and returns None when it cannot be read."""
    import numpy as np

    if args.obs_file:
        try:
            obs = np.load(args.obs_file, allow_pickle=False)
        except (OSError, ValueError) as e:
            print(
                f"error: --obs-file {args.obs_file}: not a readable .npy array ({e})",
                file=sys.stderr,
            )
            return None
        if obs.dtype.kind not in "uif" or obs.ndim not in (1, 3):
            print(
                f"error: --obs-file {args.obs_file}: expected one numeric observation, a "
                f"vector [D] or image frames [H, W, C]; got {obs.dtype} of shape {obs.shape}",
                file=sys.stderr,
            )
            return None
        return obs
    try:
        return np.array([float(x) for x in args.obs.split(",") if x.strip()], np.float32)
    except ValueError:
        print(f"error: --obs {args.obs!r}: expected comma-separated numbers", file=sys.stderr)
        return None


def act_command(args: argparse.Namespace) -> int:
    """Prints the policy's action (and Q-values) for one observation."""
    from serving.client import observation_batch

    obs = _read_observation(args)
    if obs is None:
        return 2
    flag = f"--obs-file {args.obs_file}" if args.obs_file else f"--obs {args.obs!r}"
    try:
        batch = observation_batch(obs)  # float32 [1, D] or uint8 [1, H, W, C]
    except ValueError as e:
        print(f"error: {flag}: {e}", file=sys.stderr)
        return 2

    version = _version_number(args)

    def via_grpc(client):
        out = client.act(
            args.model,
            batch,
            version=version,
            version_label=args.label,
            signature_name=args.signature,
        )
        return {k: v[0].tolist() for k, v in out.items()}

    def via_rest(client):
        row = client.act(
            args.model, batch, signature_name=args.signature, version=version, label=args.label
        )[0]
        return row if isinstance(row, dict) else {"action": row}

    result, code = _call(args, via_grpc, via_rest)
    if result is None:
        return code
    print(f"action: {result['action']}")
    if "q_values" in result:
        print("q_values: " + ", ".join(f"{q:.4f}" for q in result["q_values"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m vrl.serve serve|predict|act ...`: the same commands as `vrl`'s, set
    up the same way (Keras 2, the stderr and warning filters)."""
    return entry.main(_serve_parser, argv)


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vrl", formatter_class=DefaultsFormatter)
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser


if __name__ == "__main__":
    sys.exit(main())
