"""Name rules shared by both pipelines, the Kubeflow compiler and the server."""

from __future__ import annotations

import re

PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
"""TFX pipeline name: Kubeflow needs [a-z0-9][a-z0-9-]*; it keys ML Metadata contexts."""
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
"""Served model name: a folder under the serving base and the name clients send."""
