"""Beam's `get_function_args_defaults` behind `cache_function_arguments`: the same
answers as Beam's own for every kind of callable, computed once per function, and
a stateful DoFn still runs on the DirectRunner."""

import functools
import inspect

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core, userstate
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from vrl.beam_signatures import cache_function_arguments, cached

# Beam's own, also when an earlier test in this process ran a pipeline (which installs
# the cache).
BEAM_OWN = inspect.unwrap(core.get_function_args_defaults)


class _Counter(beam.DoFn):
    """Numbers the elements of each key, in a ReadModifyWrite state cell."""

    COUNT = ReadModifyWriteStateSpec("count", VarIntCoder())

    def process(self, element, count=beam.DoFn.StateParam(COUNT)):
        seen = (count.read() or 0) + 1
        count.write(seen)
        yield element[0], seen


def _plain(a, b=2, *rest, c, d=4, **more):
    return a


def _decorated(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


@_decorated
def _wrapped(x, y=1):
    return x


class _Callable:
    def __call__(self, element, factor=3):
        return element * factor


CALLABLES = {
    "function": _plain,
    "lambda": lambda x, y=5: x,
    "bound method": _Counter().process,
    "another instance's bound method": _Counter().process,
    "unbound method": _Counter.process,
    "functools.wraps": _wrapped,
    "partial": functools.partial(_plain, 1),
    "callable object": _Callable(),
    "class": _Counter,
    "builtin": len,
    "method descriptor": str.strip,
}


@pytest.fixture
def counted():
    calls = []

    def beam_own(f):
        calls.append(f)
        return BEAM_OWN(f)

    return cached(beam_own), calls


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_same_answer_as_beams_own_every_time(counted, name):
    get, _ = counted
    f = CALLABLES[name]
    expected = BEAM_OWN(f)
    for _ in range(3):
        assert get(f) == expected


def test_each_function_is_asked_once_and_callers_get_their_own_lists(counted):
    get, calls = counted
    for _ in range(5):
        for dofn in (_Counter(), _Counter()):  # a fresh bound method every time
            args, defaults = get(dofn.process)
            args.append("changed by a caller")
            defaults.clear()
        get(_plain)
        get(functools.partial(_plain, 1))
    assert [getattr(f, "__func__", f) for f in calls[:2]] == [_Counter.process, _plain]
    assert len(calls) == 2 + 5  # the partial goes to Beam every time
    assert get(_Counter().process) == BEAM_OWN(_Counter().process)


def test_a_function_whose_defaults_changed_is_asked_again(counted):
    get, _ = counted

    def f(x, y=1):
        return x

    assert get(f) == (["x", "y"], [1])
    f.__defaults__ = (7,)
    assert get(f) == (["x", "y"], [7])
    f.__signature__ = inspect.signature(lambda z: z)
    assert get(f) == (["z"], [])


def test_installed_beam_finds_the_state_and_runs_a_stateful_dofn(monkeypatch):
    monkeypatch.setattr(core, "get_function_args_defaults", BEAM_OWN)  # put back after
    assert cache_function_arguments()
    assert cache_function_arguments()  # a second call changes nothing
    assert core.get_function_args_defaults is not BEAM_OWN
    assert userstate.get_dofn_specs(_Counter()) == ({_Counter.COUNT}, set())
    with beam.Pipeline() as p:
        numbered = (
            p
            | beam.Create([("a", 1), ("b", 2), ("a", 3)])
            | beam.ParDo(_Counter())
            | beam.Map(lambda kv, offset=0: (kv[0], kv[1] + offset))
        )
        assert_that(numbered, equal_to([("a", 1), ("a", 2), ("b", 1)]))
