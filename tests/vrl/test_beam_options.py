"""Beam's `PipelineOptions.__init__` behind `cache_option_views`: the same views as
Beam's own, flags parsed once per options class, no value shared between two
option objects, and a pipeline still runs on the DirectRunner."""

import inspect

import apache_beam as beam
import pytest
from apache_beam.options import pipeline_options as po
from apache_beam.testing.util import assert_that, equal_to

from vrl.beam_options import cache_option_views, cached

# Beam's own, also when an earlier test in this process ran a pipeline (which installs
# the cache).
BEAM_OWN = inspect.unwrap(po.PipelineOptions.__init__)
FLAGS = ["--runner=DirectRunner", "--direct_num_workers=1", "--experiments=a", "--job_name=j"]
VIEWS = [
    po.PipelineOptions,
    po.StandardOptions,
    po.TypeOptions,
    po.DebugOptions,
    po.SetupOptions,
    po.GoogleCloudOptions,
    po.DirectOptions,
]


@pytest.fixture
def cached_init(monkeypatch):
    monkeypatch.setattr(po.PipelineOptions, "__init__", BEAM_OWN)
    assert cache_option_views()
    assert po.PipelineOptions.__init__ is not BEAM_OWN
    return po.PipelineOptions.__init__


def _views(flags):
    options = po.PipelineOptions(flags)
    return {cls.__name__: vars(options.view_as(cls)._visible_options) for cls in VIEWS}, options


@pytest.mark.parametrize("flags", [FLAGS, [], ["--type_check_strictness=ALL_REQUIRED"]])
def test_views_are_the_ones_beam_makes(monkeypatch, flags):
    monkeypatch.setattr(po.PipelineOptions, "__init__", BEAM_OWN)
    own, own_options = _views(flags)
    monkeypatch.setattr(po.PipelineOptions, "__init__", cached(BEAM_OWN))
    first, _ = _views(flags)
    again, options = _views(flags)
    assert own == first == again
    assert own_options.get_all_options() == options.get_all_options()


def test_each_class_parses_the_same_flags_once(cached_init, monkeypatch):
    parses = []
    parse = po._BeamArgumentParser.parse_known_args

    def counted(self, *args, **kwargs):
        parses.append(1)
        return parse(self, *args, **kwargs)

    monkeypatch.setattr(po._BeamArgumentParser, "parse_known_args", counted)
    options = po.PipelineOptions(FLAGS)
    for _ in range(5):
        assert options.view_as(po.TypeOptions).runtime_type_check is False
        assert options.view_as(po.StandardOptions).runner == "DirectRunner"
    assert len(parses) == 3  # PipelineOptions, TypeOptions, StandardOptions
    po.PipelineOptions(FLAGS + ["--streaming"]).view_as(po.StandardOptions)
    assert len(parses) == 5  # other flags: parsed again


def test_no_value_is_shared_between_two_option_objects(cached_init):
    first = po.PipelineOptions(FLAGS).view_as(po.DebugOptions)
    first.experiments.append("only_here")
    second = po.PipelineOptions(FLAGS).view_as(po.DebugOptions)
    assert second.experiments == ["a"]
    # Views of one object still share its values, as Beam's do.
    options = po.PipelineOptions(FLAGS)
    options.view_as(po.DebugOptions).add_experiment("b")
    assert options.view_as(po.DebugOptions).experiments == ["a", "b"]


def test_keyword_overrides_and_own_init_classes_go_to_beam(cached_init):
    assert po.PipelineOptions(FLAGS, job_name="k").view_as(po.GoogleCloudOptions).job_name == "k"

    class Own(po.PipelineOptions):
        def __init__(self, flags=None, **kwargs):
            super().__init__(flags, **kwargs)
            self.view_as(po.StandardOptions).streaming = True

    assert Own(FLAGS).view_as(po.StandardOptions).streaming is True
    assert po.PipelineOptions(FLAGS).view_as(po.StandardOptions).streaming is False


def test_a_pipeline_runs_with_the_cache(cached_init):
    with beam.Pipeline(options=po.PipelineOptions(FLAGS)) as p:
        out = p | beam.Create([1, 2, 3]) | beam.Map(lambda x: x * 2)
        assert_that(out, equal_to([2, 4, 6]))
