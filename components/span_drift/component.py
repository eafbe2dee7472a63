"""SpanDrift: has the new span drifted from the span the model in production was trained on?

TFX 1.16's ExampleValidator validates one span against a schema; TFDV can also
compare it with a previous span's statistics through the schema's drift
comparators (`tfdv.validate_statistics(previous_statistics=)`), which
ExampleValidator does not expose. This component does that comparison. The
previous span is the one the served version was trained on (ServedBaseline's
copy names it in its provenance), found without a Resolver, which open-source
Kubeflow Pipelines cannot run. Its output is a standard ExampleAnomalies
artifact (loadable with TFDV) plus span_drift.json; with `halt_on_drift` a
drifted span fails the component, and Transform (downstream) does not run.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.span_drift import constants as c
from components.span_drift.executor import Executor


class SpanDriftSpec(types.ComponentSpec):
    """The new span's statistics, the schema and the served model; drift anomalies out."""

    PARAMETERS = {
        c.MAX_L_INFINITY_KEY: ExecutionParameter(type=float),
        c.MAX_JS_DIVERGENCE_KEY: ExecutionParameter(type=float),
        c.HALT_KEY: ExecutionParameter(type=int),
    }
    INPUTS = {
        c.STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
        c.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
        c.BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
    }
    OUTPUTS = {c.ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies)}


class SpanDrift(base_beam_component.BaseBeamComponent):
    """TFDV drift comparators between the new span and the served model's span."""

    SPEC_CLASS = SpanDriftSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
        self,
        statistics: types.BaseChannel,
        schema: types.BaseChannel,
        baseline_model: types.BaseChannel,
        max_l_infinity: float,
        max_js_divergence: float,
        halt_on_drift: bool,
    ):
        """Args: StatisticsGen's statistics, the schema, ServedBaseline's model; the
        thresholds of the categorical (L-infinity) and numeric (Jensen-Shannon)
        comparators; whether a drifted span stops the run."""
        super().__init__(
            spec=SpanDriftSpec(
                statistics=statistics,
                schema=schema,
                baseline_model=baseline_model,
                max_l_infinity=max_l_infinity,
                max_js_divergence=max_js_divergence,
                halt_on_drift=int(halt_on_drift),
                anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies),
            )
        )
