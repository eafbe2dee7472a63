"""TFX's Pusher with an atomic filesystem push and provenance inputs."""

from __future__ import annotations

import os

from tfx import types
from tfx.components import Pusher
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from components.atomic_pusher.constants import (
    EVALUATION_KEY,
    EXAMPLES_KEY,
    KIND_CONFIG,
    MODEL_NAME_CONFIG,
    MODEL_RUN_KEY,
    PIPELINE_NAME_CONFIG,
    PUSHER_ID,
    QUARANTINE_KEY,
)
from components.atomic_pusher.executor import Executor
from components.image_example_gen.spec import QuarantineReport


class AtomicPusherSpec(standard_component_specs.PusherSpec):
    """PusherSpec plus optional inputs that feed `assets.extra/vrl_provenance.json`."""

    INPUTS = {
        **standard_component_specs.PusherSpec.INPUTS,
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
        QUARANTINE_KEY: ChannelParameter(type=QuarantineReport, optional=True),
        EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation, optional=True),
        MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun, optional=True),
    }


class AtomicPusher(Pusher):
    """TFX's Pusher (same blessing gate, PushedModel output and metadata) whose
    executor stages the copy, writes its provenance and renames it into place."""

    SPEC_CLASS = AtomicPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        push_destination: pusher_pb2.PushDestination,
        custom_config: dict | None = None,
        examples: types.BaseChannel | None = None,
        quarantine: types.BaseChannel | None = None,
        evaluation: types.BaseChannel | None = None,
        model_run: types.BaseChannel | None = None,
    ):
        """Args: model, model_blessing, push_destination (filesystem only),
        custom_config (pipeline and model names for the provenance), and the
        optional provenance inputs: examples, quarantine (ImageExampleGen),
        evaluation (Evaluator / PolicyEvaluator), model_run (Trainer)."""
        spec = AtomicPusherSpec(
            model=model,
            model_blessing=model_blessing,
            infra_blessing=None,
            push_destination=push_destination,
            custom_config=json_utils.dumps(custom_config),
            pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            examples=examples,
            quarantine=quarantine,
            evaluation=evaluation,
            model_run=model_run,
        )
        # Pusher.__init__ builds its own spec class; the base takes ours.
        base_component.BaseComponent.__init__(self, spec=spec)


def create_pusher(
    model: types.BaseChannel,
    model_blessing: types.BaseChannel,
    serving_base: str,
    model_name: str,
    *,
    pipeline_name: str = "",
    kind: str = "",
    examples: types.BaseChannel | None = None,
    quarantine: types.BaseChannel | None = None,
    evaluation: types.BaseChannel | None = None,
    model_run: types.BaseChannel | None = None,
) -> AtomicPusher:
    """Pusher (id "Pusher") that pushes blessed models to
    `<serving_base>/<model_name>/<version>/` with their provenance.

    `kind` is "image" or "rl"; the other keyword arguments only enrich the
    provenance and may be left out.
    """
    return AtomicPusher(
        model=model,
        model_blessing=model_blessing,
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=os.path.join(serving_base, model_name)
            )
        ),
        custom_config={
            PIPELINE_NAME_CONFIG: pipeline_name,
            MODEL_NAME_CONFIG: model_name,
            KIND_CONFIG: kind,
        },
        examples=examples,
        quarantine=quarantine,
        evaluation=evaluation,
        model_run=model_run,
    ).with_id(PUSHER_ID)
