"""TFX's Pusher with an atomic filesystem push."""

from __future__ import annotations

import os

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec
from tfx.types import Channel

from components.atomic_pusher.executor import Executor


def create_pusher(
    model: Channel, model_blessing: Channel, serving_base: str, model_name: str
) -> tfx.components.Pusher:
    """Pusher that pushes blessed models to `<serving_base>/<model_name>/<version>/`.

    It is TFX's own Pusher component (same spec, metadata, blessing gate) with
    an executor that stages the copy and renames it into place.
    """
    pusher = tfx.components.Pusher(
        model=model,
        model_blessing=model_blessing,
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=os.path.join(serving_base, model_name)
            )
        ),
    )
    pusher.executor_spec = executor_spec.ExecutorClassSpec(Executor)
    return pusher
