"""Per-class precision and recall as TFMA metrics derived from TFMA's multi-class
confusion matrix (the one MultiClassConfusionMatrixPlot computes).

TFMA's own `Precision`/`Recall` under a `binarize` of K class ids run one
binary-confusion-matrix combiner per class, slice and model, each re-extracting
the label and prediction of every example in Python: on 14,000 eval digits, 10
classes and two slicings that was most of the Evaluator's time. These metrics
read the counts of the multi-class matrix instead (TFMA computes it once per
slice and model, and de-duplicates it with the plot's), and apply TFMA's own
formulas to the class's one-vs-rest counts. The keys are those TFMA's metrics
get (`precision`/`recall`, sub key `classId:c topK:1`), so the values land where
readers of the evaluation look for them.

A class is predicted when it is the most probable one and its probability is
above 0.0, TFMA's Precision/Recall with `top_k=1, thresholds=[0.0]`. The one
difference: on an exact tie for the top probability the confusion matrix (and
so these metrics) takes the first class, numpy's argpartition under TFMA's top_k
the last.
"""

from __future__ import annotations

import json

from tensorflow_model_analysis.metrics import (
    confusion_matrix_metrics,
    metric_types,
    metric_util,
    multi_class_confusion_matrix_metrics,
)
from tensorflow_model_analysis.proto import config_pb2

# The threshold of MultiClassConfusionMatrixPlot's default matrix: sharing it
# lets TFMA compute the matrix once for the plot and these metrics.
_THRESHOLD = 0.0
_FORMULAS = {
    confusion_matrix_metrics.PRECISION_NAME: confusion_matrix_metrics.Precision(),
    confusion_matrix_metrics.RECALL_NAME: confusion_matrix_metrics.Recall(),
}


def one_vs_rest(
    matrix: dict[tuple[int, int], float], class_id: int
) -> tuple[float, float, float, float]:
    """(tp, tn, fp, fn) of `class_id` from a multi-class confusion matrix keyed by
    (actual class id, predicted class id); predicted -1: no class above the threshold."""
    tp = tn = fp = fn = 0.0
    for (actual, predicted), weight in matrix.items():
        if actual == class_id and predicted == class_id:
            tp += weight
        elif predicted == class_id:
            fp += weight
        elif actual == class_id:
            fn += weight
        else:
            tn += weight
    return tp, tn, fp, fn


def _class_metric(
    name: str,
    formula: str,
    eval_config=None,
    model_name: str = "",
    output_name: str = "",
    sub_key: metric_types.SubKey | None = None,
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    """Computations of one class's metric (`formula`: TFMA's metric of that name)."""
    if sub_key is None or sub_key.class_id is None:
        raise ValueError(
            f"{name}: a per-class metric needs the class ids of its MetricsSpec's binarize"
        )
    key = metric_types.MetricKey(
        name=name,
        model_name=model_name,
        output_name=output_name,
        sub_key=metric_types.SubKey(class_id=sub_key.class_id, top_k=1),
        example_weighted=example_weighted,
    )
    computations = multi_class_confusion_matrix_metrics.multi_class_confusion_matrices(
        thresholds=[_THRESHOLD],
        eval_config=eval_config,
        model_name=model_name,
        output_name=output_name,
        example_weighted=example_weighted,
    )
    matrices_key = computations[-1].keys[-1]
    metric = _FORMULAS[formula]

    def result(metrics: dict) -> dict:
        matrix = metrics[matrices_key].get(_THRESHOLD, {})
        return {key: metric.result(*one_vs_rest(matrix, sub_key.class_id))}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations


class _ClassMetric(metric_types.Metric):
    """One metric of each binarized class (top-1 prediction) from the multi-class
    matrix; FORMULA names the TFMA metric whose formula it applies."""

    FORMULA = ""

    def __init__(self, name: str | None = None, formula: str | None = None):
        formula = formula or self.FORMULA
        super().__init__(
            metric_util.merge_per_key_computations(_class_metric),
            name=name or formula,
            formula=formula,
        )


class ClassPrecision(_ClassMetric):
    """Precision of each binarized class, named `precision` as TFMA's."""

    FORMULA = confusion_matrix_metrics.PRECISION_NAME


class ClassRecall(_ClassMetric):
    """Recall of each binarized class, named `recall` as TFMA's."""

    FORMULA = confusion_matrix_metrics.RECALL_NAME


def with_tfma_metrics(eval_config: config_pb2.EvalConfig) -> config_pb2.EvalConfig:
    """A copy of `eval_config` computing per-class precision and recall with TFMA's
    own binarized Precision/Recall (top_k=1, thresholds=[0.0]): the reference these
    metrics reproduce, for tests and bench/evaluator_time.py."""
    config = config_pb2.EvalConfig()
    config.CopyFrom(eval_config)
    tfma_names = {ClassPrecision.__name__: "Precision", ClassRecall.__name__: "Recall"}
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            if metric.module == __name__ and metric.class_name in tfma_names:
                metric.class_name = tfma_names[metric.class_name]
                metric.module = ""
                metric.config = json.dumps({"top_k": 1, "thresholds": [_THRESHOLD]})
    return config
