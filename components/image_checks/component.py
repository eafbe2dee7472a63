"""ImageChecks: class balance, size/channel spread, duplicates and leakage."""

from __future__ import annotations

import dataclasses
import json

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import Channel, component_spec, standard_artifacts

from components.image_checks import keys, ops
from components.image_checks.executor import Executor


class ImageChecksSpec(component_spec.ComponentSpec):
    """Inputs, outputs and parameters of ImageChecks."""

    PARAMETERS = {
        keys.CONFIG: component_spec.ExecutionParameter(type=str),
        keys.HALT_ON_ANOMALIES: component_spec.ExecutionParameter(type=int),
    }
    INPUTS = {
        keys.EXAMPLES: component_spec.ChannelParameter(type=standard_artifacts.Examples),
        keys.ANOMALIES: component_spec.ChannelParameter(
            type=standard_artifacts.ExampleAnomalies, optional=True
        ),
    }
    OUTPUTS = {
        keys.IMAGE_ANOMALIES: component_spec.ChannelParameter(
            type=standard_artifacts.ExampleAnomalies
        ),
    }


class ImageChecks(base_component.BaseComponent):
    """Image checks TFX lacks, written as standard ExampleAnomalies.

    With `halt_on_anomalies`, an ERROR-level image issue or any anomaly from
    the upstream ExampleValidator fails this component, and everything
    downstream of it (Transform, Trainer, Pusher) does not run.
    """

    SPEC_CLASS = ImageChecksSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        examples: Channel,
        anomalies: Channel | None = None,
        config: ops.CheckConfig = ops.CheckConfig(),
        halt_on_anomalies: bool = True,
    ):
        spec = ImageChecksSpec(
            examples=examples,
            anomalies=anomalies,
            config=json.dumps(dataclasses.asdict(config)),
            halt_on_anomalies=int(halt_on_anomalies),
            image_anomalies=Channel(type=standard_artifacts.ExampleAnomalies),
        )
        super().__init__(spec=spec)
