"""The last step of the README's main command: serve the pushed models and query them once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from serving.client import GrpcClient, top_k
from serving.options import ServerOptions
from serving.server import start_server


@dataclasses.dataclass(frozen=True)
class DemoAnswers:
    """What the server answered."""

    grpc_target: str
    cnn_version: int
    top_labels: list[tuple[str, float]]
    """(label, probability), most probable first."""
    policy_version: int | None = None
    action: int | None = None
    q_values: list[float] = dataclasses.field(default_factory=list)


def query_pushed_models(
    model_base: str,
    cnn_model: str,
    image_bytes: bytes,
    policy_model: str | None = None,
    observation: Sequence[float] = (),
    top: int = 3,
    timeout: float = 120.0,
) -> DemoAnswers:
    """Starts the local server on free loopback ports, sends one gRPC image
    prediction (and one gRPC action query when `policy_model` is given), stops
    the server and returns the answers."""
    handle = start_server(ServerOptions(model_base=model_base, grpc_port=0, rest_port=0))
    target = f"127.0.0.1:{handle.grpc_port}"
    try:
        cnn_version = handle.wait_until_available(cnn_model, timeout)
        policy_version = (
            handle.wait_until_available(policy_model, timeout) if policy_model else None
        )
        with GrpcClient(target) as client:
            out = client.predict_images(cnn_model, [image_bytes])
            classes = out.get("classes")
            names = None
            if classes is not None:  # every class name, aligned with the probabilities
                names = [c.decode("utf-8", "replace") for c in classes[0]]
            ranked = top_k(out["probabilities"][0], top, names)
            if names is None:  # older exports name only their top class
                ranked[0] = (out["label_names"][0].decode("utf-8", "replace"), ranked[0][1])
            act = client.act(policy_model, [list(observation)]) if policy_model else None
    finally:
        handle.stop()
    if act is None:
        return DemoAnswers(target, cnn_version, ranked)
    return DemoAnswers(
        grpc_target=target,
        cnn_version=cnn_version,
        top_labels=ranked,
        policy_version=policy_version,
        action=int(act["action"][0]),
        q_values=[float(q) for q in act["q_values"][0]] if "q_values" in act else [],
    )
