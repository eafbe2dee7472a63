"""Artifact file names, one per file, and the layout of the input folders.

Each name is written by one component and read by others (the pusher's
provenance, the PolicyEvaluator, the `vrl` report and results commands), so it
is defined here once. The label vocabulary's name is in `contracts.features`
beside the tf.Example contract it belongs to.
"""

from __future__ import annotations

# Input folders ImageExampleGen reads: <input_base>/<class>/<file>, or one
# sub-folder per span, <input_base>/span-N/<class>/<file>.
FOLDER_PATTERN = "*/*"
SPAN_FOLDER_PREFIX = "span-"
SPAN_FOLDER_PATTERN = SPAN_FOLDER_PREFIX + "{SPAN}/" + FOLDER_PATTERN

# ImageExampleGen's quarantine artifact.
INGEST_REPORT_FILE = "ingest_report.json"
# ImageExampleGen's Examples artifact, beside label_vocab.txt: one JSON line per
# example written, {"path", "sha256", "split", "label_name"}, gzip; path as
# quarantine.jsonl names inputs (relative to the input base, FILE#N for a
# TFRecord's record N). ImageChecks names files with it.
EXAMPLE_LISTING_FILE = "example_listing.jsonl.gz"
# ImageChecks' output artifact.
IMAGE_CHECKS_FILE = "image_checks.json"
# ImageTransform's transformed Examples, beside label_vocab.txt: the span, version
# and input fingerprint of the Examples they came from (the Trainer's HParams).
DATA_IDENTITY_FILE = "data_identity.json"
# SpanDrift's output artifact: the verdict, and the compared span's TFDV statistics.
SPAN_DRIFT_FILE = "span_drift.json"
SPAN_DRIFT_BASELINE_STATISTICS = "baseline_statistics.pb"
# The CNN Trainer's model_run artifact.
TRAINING_REPORT_FILE = "training_report.json"
LOSS_CURVE_FILE = "loss_curve.png"

# DqnTrainer's Model artifact, at its root beside Format-Serving/.
EVAL_HISTORY_FILE = "eval_history.json"
TRAINING_SUMMARY_FILE = "training_summary.json"

# GatedEvaluator's and PolicyEvaluator's ModelEvaluation artifact: the served
# version the candidate was compared with (read by the pusher's provenance).
BASELINE_FILE = "baseline.json"
# PolicyEvaluator's ModelEvaluation artifact.
POLICY_REPORT_FILE = "report.json"
POLICY_REPORT_TEXT_FILE = "report.txt"
RETURN_PLOT_FILE = "return_over_training.png"
# TFDV statistics of the observations the evaluation episodes showed the policy
# (and the greedy actions): what `vrl monitor` compares served observations with.
POLICY_OBSERVATION_STATS_FILE = "observation_stats.pbtxt"
