"""Beam's argument introspection, computed once per function on the local runner.

Apache Beam 2.59 asks `apache_beam.transforms.core.get_function_args_defaults`
for the arguments of every method of every DoFn, each time it checks a DoFn
for state and timers (`userstate.get_dofn_specs`, called while the pipeline is
built, translated and again for every bundle it runs) and each time it wraps a
method for invoking. Each answer is a fresh `inspect.signature`. In one run of
the demo's image pipeline that is 110,279 calls, about 3 s, all on the critical
path, nearly all of them for the same few hundred functions.

`cache_function_arguments` puts a cache in front of it for plain Python
functions and methods bound to them, the callables whose signature is fixed
by the function object: the answer for a bound method is its function's
without the first argument, whatever the instance. A function whose code,
defaults, `__signature__` or `__wrapped__` were replaced since is asked
again. Any other callable (a `functools.partial`, a class, a builtin, an
object with `__call__`) goes to Beam's function as before. Each caller gets
its own lists. It touches only the Beam version whose function it knows.
"""

from __future__ import annotations

import types
import weakref

from vrl.beam_version import is_patched_beam


def cache_function_arguments() -> bool:
    """Installs the cache (once); True when Beam is the known version."""
    if not is_patched_beam():
        return False
    from apache_beam.transforms import core

    if getattr(core.get_function_args_defaults, "cached_arguments", False):
        return True
    core.get_function_args_defaults = cached(core.get_function_args_defaults)
    return True


def cached(compute):
    """`compute` (Beam's `get_function_args_defaults`) with a per-function cache."""
    # function -> {bound?: (what its signature is made of, (args, defaults))}
    answers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def made_of(function: types.FunctionType) -> tuple:
        # What inspect.signature reads from a function: its code (the argument
        # names), its defaults, and the overrides __signature__ and __wrapped__.
        extra = function.__dict__
        return (
            function.__code__,
            function.__defaults__,
            function.__kwdefaults__,
            extra.get("__signature__"),
            extra.get("__wrapped__"),
        )

    def get_function_args_defaults(f):
        if isinstance(f, types.MethodType) and isinstance(f.__func__, types.FunctionType):
            function, bound = f.__func__, True
        elif isinstance(f, types.FunctionType):
            function, bound = f, False
        else:
            return compute(f)
        entries = answers.get(function)
        if entries is None:
            entries = answers[function] = {}
        parts = made_of(function)
        entry = entries.get(bound)
        if entry is None or any(a is not b for a, b in zip(entry[0], parts, strict=True)):
            entry = entries[bound] = (parts, compute(f))
        args, defaults = entry[1]
        return list(args), list(defaults)

    get_function_args_defaults.cached_arguments = True  # type: ignore[attr-defined]
    get_function_args_defaults.__wrapped__ = compute  # type: ignore[attr-defined]
    get_function_args_defaults.__doc__ = compute.__doc__
    return get_function_args_defaults
