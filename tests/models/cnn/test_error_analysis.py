"""Error analysis maths on hand-checkable inputs, and the files it writes."""

import json
import os

import numpy as np
import pytest

from models.cnn import error_analysis as ea

# 3 classes, 6 examples. True labels and the probabilities' argmax:
#   true:      0  0  1  1  2  2
#   predicted: 0  1  1  1  0  2
LABELS = np.array([0, 0, 1, 1, 2, 2])
PROBS = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.3, 0.6, 0.1],  # wrong, confidence 0.6; true class 0 second
        [0.2, 0.7, 0.1],
        [0.1, 0.5, 0.4],
        [0.9, 0.07, 0.03],  # wrong, confidence 0.9; true class 2 ranked third
        [0.1, 0.2, 0.7],
    ]
)
NAMES = ["cat", "dog", "fox"]


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    matrix = ea.confusion_matrix(LABELS, PROBS.argmax(axis=1), 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])


def test_confusion_matrix_rejects_class_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        ea.confusion_matrix([0, 3], [0, 0], 3)


def test_precision_and_recall_per_class_from_the_matrix():
    stats = ea.precision_recall(np.array([[1, 1, 0], [0, 2, 0], [1, 0, 1]]))
    # cat: predicted twice, right once; present twice, found once.
    assert stats[0] == {"precision": 0.5, "recall": 0.5, "support": 2}
    assert stats[1] == {"precision": 2 / 3, "recall": 1.0, "support": 2}
    assert stats[2] == {"precision": 1.0, "recall": 0.5, "support": 2}


def test_precision_is_none_for_a_class_never_predicted():
    stats = ea.precision_recall(np.array([[2, 0], [1, 0]]))
    assert stats[1]["precision"] is None and stats[1]["recall"] == 0.0


def test_top_k_accuracy_counts_the_true_class_among_the_k_most_probable():
    assert ea.top_k_accuracy(LABELS, PROBS, 1) == pytest.approx(4 / 6)
    assert ea.top_k_accuracy(LABELS, PROBS, 2) == pytest.approx(5 / 6)  # example 4 misses
    assert ea.top_k_accuracy(LABELS, PROBS, 3) == 1.0
    with pytest.raises(ValueError, match="number of classes"):
        ea.top_k_accuracy(LABELS, PROBS, 4)


def test_usable_top_k_skips_k_of_one_and_k_at_or_above_the_class_count():
    assert ea.usable_top_k((2, 5), 3) == [2]
    assert ea.usable_top_k((1, 2, 5), 10) == [2, 5]
    assert ea.usable_top_k((2, 5), 2) == []


def test_most_confident_wrong_orders_wrong_predictions_by_confidence():
    assert ea.most_confident_wrong(LABELS, PROBS, 5) == [4, 1]
    assert ea.most_confident_wrong(LABELS, PROBS, 1) == [4]


def test_summary_names_classes_and_checks_the_probability_width():
    summary = ea.summarize(LABELS, PROBS, NAMES, top_k=(2, 5))
    assert summary["accuracy"] == pytest.approx(4 / 6)
    assert summary["top_k_accuracy"] == {"top_2": pytest.approx(5 / 6)}
    assert summary["per_class"]["dog"]["precision"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="one column per class name"):
        ea.summarize(LABELS, PROBS, NAMES[:2], top_k=())


def test_write_outputs_writes_json_and_two_pngs_with_the_wrong_images(tmp_path):
    from models.cnn import testing

    red = testing.encode_image(np.full((8, 8, 3), [255, 0, 0], np.uint8))
    summary = ea.write_outputs(str(tmp_path), LABELS, PROBS, NAMES, (2,), {1: red, 4: red})
    folder = tmp_path / ea.OUTPUT_DIR
    on_disk = json.loads((folder / ea.REPORT_JSON).read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert [w["index"] for w in on_disk["most_confidently_wrong"]] == [4, 1]
    assert on_disk["most_confidently_wrong"][0] == {
        "index": 4,
        "true": "fox",
        "predicted": "cat",
        "probability": 0.9,
    }
    for png in (ea.CONFUSION_PNG, ea.WRONG_PNG):
        data = (folder / png).read_bytes()
        assert data.startswith(b"\x89PNG") and os.path.getsize(folder / png) > 1000


def test_wrong_grid_with_nothing_wrong_is_a_png_saying_so():
    assert ea.plot_wrong_grid([], []).startswith(b"\x89PNG")
