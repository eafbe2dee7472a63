"""Beam's pipeline-option views, parsed once per options class on the local runner.

Apache Beam 2.59 makes a new view of the pipeline's options
(`PipelineOptions.view_as`) each time it applies a transform: twice for its
type-check settings, once more for the streaming flag. Each view is a new
instance of the options class, whose `__init__` builds an argparse parser
holding every option of the class and parses the flags again: 0.3-0.8 ms
each, 1,892 views and 1.83 s in one run of the demo's image pipeline, all on
the critical path, for a handful of classes over the same flags (0.20 s with
the cache, the same hour).

`cache_option_views` keeps the parsed values of each (options class, flags)
and gives later instances a deep copy of them, so no list or other value is
shared between two instances (Beam's views share their values through
`_all_options`, which `view_as` still sets as before). Anything else goes to
Beam's `__init__` as before: flags of None (Beam then parses `sys.argv`), keyword
overrides, and classes with an `__init__` of their own. It touches only the Beam
version whose `__init__` it knows.
"""

from __future__ import annotations

import copy
import logging

from vrl.beam_version import is_patched_beam


def cache_option_views() -> bool:
    """Installs the cache (once); True when Beam is the known version."""
    if not is_patched_beam():
        return False
    from apache_beam.options.pipeline_options import PipelineOptions

    if not getattr(PipelineOptions.__init__, "cached_views", False):
        PipelineOptions.__init__ = cached(PipelineOptions.__init__)
    return True


def cached(init):
    """`init` (Beam's `PipelineOptions.__init__`) with the parsed flags kept per class."""
    # (options class, flags) -> the argparse.Namespace its parser made of them
    parsed: dict[tuple, object] = {}

    def __init__(self, flags=None, **kwargs):  # noqa: N807 (the method it replaces)
        if flags is None or kwargs or type(self).__init__ is not __init__:
            init(self, flags, **kwargs)
            return
        try:
            key = (type(self), tuple(flags))
            namespace = parsed.get(key)
        except TypeError:  # a flag that cannot be a key: parsed as before
            init(self, flags)
            return
        if namespace is None:
            init(self, flags)
            parsed[key] = copy.deepcopy(self._visible_options)
            return
        # What Beam's __init__ does after parsing, on a copy of the parsed values.
        logging.basicConfig()
        self._flags = flags
        self._visible_options = copy.deepcopy(namespace)
        self._all_options = {}
        for name in self._visible_option_list():
            self._all_options[name] = getattr(self._visible_options, name)

    __init__.cached_views = True  # type: ignore[attr-defined]
    __init__.__wrapped__ = init  # type: ignore[attr-defined]  # Beam's, for inspect.unwrap
    __init__.__doc__ = init.__doc__
    return __init__
