"""What `vrl run image` prints about errors, from a run summary."""

from vrl.results import RunSummary, error_analysis_lines


def test_lines_show_top_k_per_class_table_tflite_check_reason_and_where_the_pngs_are():
    summary = RunSummary(
        blessed=False,
        metrics={"sparse_categorical_accuracy": 0.9, "top_2_accuracy": 0.975},
        per_class={"cat": 0.5},
        per_class_precision_recall={"cat": {"precision": 0.25, "recall": 0.5}},
        tflite={
            "quantization": "dynamic",
            "tflite_bytes": 2048,
            "tflite_accuracy": 0.85,
            "saved_model_accuracy": 0.9,
            "accuracy_drop": 0.05,
            "max_drop": 0.02,
            "passed": False,
        },
        not_blessed_reason="TFLite (dynamic) eval accuracy 0.8500 is 0.0500 below",
        error_analysis_dir="/runs/Trainer/model_run/7/error_analysis",
    )
    text = "\n".join(error_analysis_lines(summary))
    assert "top_2_accuracy 0.9750" in text
    assert "cat    0.5000     0.2500  0.5000" in text
    assert "TFLite (dynamic, 2 KiB): eval accuracy 0.8500 vs SavedModel 0.9000" in text
    assert "drop 0.0500 (max 0.0200): FAILED" in text
    assert "not blessed because: TFLite (dynamic)" in text
    assert "error analysis: /runs/Trainer/model_run/7/error_analysis" in text
    assert "confusion_matrix.png, confidently_wrong.png" in text


def test_a_run_without_tflite_or_class_metrics_prints_nothing_extra():
    assert error_analysis_lines(RunSummary(blessed=True)) == []
