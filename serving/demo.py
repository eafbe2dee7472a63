"""The last step of the README's main command: serve the pushed models and query them once."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from serving.client import GrpcClient, top_k
from serving.server import start_server

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DemoAnswers:
    """What the server answered."""

    cnn_version: int
    top_labels: list[tuple[str, float]]
    """(label, probability), most probable first (only the top one is named by the model)."""
    policy_version: int
    action: int
    q_values: list[float]


def query_pushed_models(
    model_base: str,
    cnn_model: str,
    image_bytes: bytes,
    policy_model: str,
    observation: Sequence[float],
    top: int = 3,
    timeout: float = 120.0,
) -> DemoAnswers:
    """Starts the local server on free loopback ports, sends one gRPC image prediction
    and one gRPC action query, stops the server and returns the answers."""
    handle = start_server(model_base, grpc_port=0, rest_port=0)
    try:
        cnn_version = handle.wait_until_available(cnn_model, timeout)
        policy_version = handle.wait_until_available(policy_model, timeout)
        with GrpcClient(f"127.0.0.1:{handle.grpc_port}") as client:
            out = client.predict_images(cnn_model, [image_bytes])
            ranked = top_k(out["probabilities"][0], top)
            ranked[0] = (out["label_names"][0].decode("utf-8", "replace"), ranked[0][1])
            act = client.act(policy_model, [list(observation)])
    finally:
        handle.stop()
    return DemoAnswers(
        cnn_version=cnn_version,
        top_labels=ranked,
        policy_version=policy_version,
        action=int(act["action"][0]),
        q_values=[float(q) for q in act["q_values"][0]] if "q_values" in act else [],
    )
