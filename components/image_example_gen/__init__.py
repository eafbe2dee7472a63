"""ImageExampleGen: decode-checked image ingestion with a quarantine report.

`from components.image_example_gen import ImageExampleGen` works; TFX is
imported only on first access, so the pure modules (ops, sources, report)
stay importable without it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FOLDER_PATTERN": "contracts.files",
    "SPAN_FOLDER_PATTERN": "contracts.files",
    "ImageExampleGen": "components.image_example_gen.component",
    "default_input_config": "components.image_example_gen.component",
    "default_output_config": "components.image_example_gen.component",
    "QuarantineReport": "components.image_example_gen.spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
