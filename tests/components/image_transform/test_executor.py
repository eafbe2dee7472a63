"""ImageTransform: the label vocabulary reaches the transformed Examples, or a clear error."""

import pytest

from components.image_transform.executor import vocab_pairs


def _examples(tmp_path, name: str, vocab: str | None) -> str:
    uri = tmp_path / name
    uri.mkdir()
    if vocab is not None:
        (uri / "label_vocab.txt").write_text(vocab)
    return str(uri)


def test_each_transformed_artifact_gets_the_vocab_of_its_input(tmp_path):
    a, b = _examples(tmp_path, "a", "cat\ndog\n"), _examples(tmp_path, "b", "cat\ndog\n")

    pairs = vocab_pairs([a, b], ["/out/1", "/out/2"])

    assert pairs == [
        (f"{a}/label_vocab.txt", "/out/1/label_vocab.txt"),
        (f"{b}/label_vocab.txt", "/out/2/label_vocab.txt"),
    ]


def test_several_inputs_into_one_output_need_the_same_classes(tmp_path):
    a, b = _examples(tmp_path, "a", "cat\ndog\n"), _examples(tmp_path, "b", "cat\nfox\n")

    with pytest.raises(ValueError, match="different label_vocab.txt"):
        vocab_pairs([a, b], ["/out/1"])
    assert vocab_pairs([a, a], ["/out/1"]) == [(f"{a}/label_vocab.txt", "/out/1/label_vocab.txt")]


def test_examples_without_a_vocab_are_refused_naming_the_file(tmp_path):
    a = _examples(tmp_path, "a", None)

    with pytest.raises(FileNotFoundError, match=r"a/label_vocab.txt.*ImageExampleGen"):
        vocab_pairs([a], ["/out/1"])


def test_nothing_to_copy_when_transform_materialises_nothing(tmp_path):
    assert vocab_pairs([_examples(tmp_path, "a", "x\ny\n")], []) == []
