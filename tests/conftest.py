"""Test-session settings shared by the whole suite."""

import os

# tf-agents 0.19 on TF 2.16 needs Keras 2; this must precede any TensorFlow import.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
