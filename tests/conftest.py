"""Test-session settings shared by the whole suite."""

import os

# tf-agents 0.19 on TF 2.16 needs Keras 2; this must precede any TensorFlow import.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_modifyitems(items) -> None:
    """Full pipeline runs first: `make test` deals test files to two processes in
    collection order, and starting the longest files first keeps one process from
    running a long end-to-end file alone at the end (a stable sort: the order
    within each group is unchanged)."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)
