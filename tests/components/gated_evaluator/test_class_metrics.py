"""Per-class precision and recall read from TFMA's multi-class confusion matrix give
the numbers, and keys, of TFMA's own binarized Precision/Recall (real TFMA, in one
Beam run over labels and predictions)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import tensorflow_model_analysis as tfma

from components.gated_evaluator import class_metrics, ops
from pipeline.image_pipeline import create_eval_config

K = 4


def test_one_vs_rest_counts_a_class_against_the_others():
    # (actual, predicted): weight; -1 = no class above the threshold
    matrix = {(0, 0): 5.0, (0, 1): 2.0, (1, 0): 3.0, (1, 1): 4.0, (2, 2): 1.0, (0, -1): 1.0}
    assert class_metrics.one_vs_rest(matrix, 0) == (5.0, 5.0, 3.0, 3.0)
    assert class_metrics.one_vs_rest(matrix, 3) == (0.0, 16.0, 0.0, 0.0)


def test_a_class_metric_outside_a_binarize_says_what_it_needs():
    metric = class_metrics.ClassPrecision()
    with pytest.raises(ValueError, match="class ids of its MetricsSpec's binarize"):
        metric.computations(eval_config=tfma.EvalConfig())


def _labels_and_predictions(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, K, n)
    logits = rng.normal(0, 1, (n, K)) + 2.0 * np.eye(K)[labels]
    logits[:, K - 1] -= 4.0  # the last class is seldom predicted: NaN precision on some slices
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return pd.DataFrame(
        {
            "label": labels,
            "probabilities": list(probs.astype(np.float32)),
            "label_name": [f"c{i}" for i in labels],
        }
    )


@pytest.mark.slow
def test_per_class_precision_and_recall_equal_tfmas_binarized_ones_on_every_slice():
    config = ops.size_to_classes(create_eval_config(0.5, 0.1), K)
    model_spec = config.model_specs[0]
    model_spec.ClearField("model_type")  # predictions are given: no model to call
    model_spec.ClearField("signature_name")
    for metric in config.metrics_specs[0].metrics:
        metric.threshold.ClearField("change_threshold")  # no baseline here
    reference = class_metrics.with_tfma_metrics(config).metrics_specs[1]
    for metric in reference.metrics:
        settings = json.loads(metric.config)
        metric.config = json.dumps({**settings, "name": f"tfma_{metric.class_name.lower()}"})
    config.metrics_specs.append(reference)

    result = tfma.analyze_raw_data(_labels_and_predictions(), config)

    compared = nans = 0
    for slice_key, by_output in result.slicing_metrics:
        for sub_key, values in by_output[""].items():
            if not sub_key:
                continue
            assert sub_key.startswith("classId:") and sub_key.endswith("topK:1")
            for name in ("precision", "recall"):
                ours = values[name]["doubleValue"]
                tfma_s = values[f"tfma_{name}"]["doubleValue"]
                if isinstance(tfma_s, str) or math.isnan(tfma_s):
                    nans += 1
                    assert isinstance(ours, str) or math.isnan(ours), (slice_key, sub_key, name)
                else:
                    assert ours == tfma_s, (slice_key, sub_key, name)
                compared += 1
    assert compared == (1 + K) * K * 2  # overall + one slice per label, K classes, 2 metrics
    assert nans > 0  # the undefined case (nothing predicted) is covered too
