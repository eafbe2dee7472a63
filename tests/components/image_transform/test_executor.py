"""ImageTransform: the label vocabulary reaches the transformed Examples, or a clear error."""

import pytest

from components.image_transform.executor import data_identity, vocab_pairs


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


def _ingested(span: int, version: int | None, fingerprint: str):
    """An Examples artifact with the properties TFX's ExampleGen driver records."""
    from tfx.components.example_gen import driver
    from tfx.types import standard_artifacts

    examples = standard_artifacts.Examples()
    props = {"span": span, "version": version, "input_fingerprint": fingerprint}
    driver.update_output_artifact(props, examples.mlmd_artifact)
    return examples


def test_data_identity_tells_spans_and_fingerprints_apart():
    one = data_identity([_ingested(3, None, "split:single_split,num_files:2,total_bytes:10")])
    assert one["data_span"] == "3" and one["data_version"] == ""
    assert len(one["data_fingerprint"]) == 12
    same_span_new_files = data_identity([_ingested(3, None, "split:single_split,num_files:3")])
    assert same_span_new_files["data_span"] == "3"
    assert same_span_new_files["data_fingerprint"] != one["data_fingerprint"]
    both = data_identity([_ingested(3, 1, "a"), _ingested(4, 1, "b")])
    assert both["data_span"] == "3,4" and both["data_version"] == "1,1"


def test_data_identity_of_examples_without_ingest_properties_is_empty():
    from tfx.types import standard_artifacts

    assert data_identity([standard_artifacts.Examples()]) == {
        "data_span": "",
        "data_version": "",
        "data_fingerprint": "",
    }


def test_data_identity_reads_the_examples_type_span_property_too():
    from tfx.types import standard_artifacts

    imported = standard_artifacts.Examples()
    imported.span = 5  # how an Importer records it
    assert data_identity([imported])["data_span"] == "5"


@pytest.mark.parametrize("before", [False, True])
def test_graph_optimizer_is_off_inside_and_as_it_was_after(before):
    import tensorflow as tf

    from components.image_transform.executor import graph_optimizer_off

    def meta_off() -> bool:
        return tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})
    try:
        with pytest.raises(RuntimeError, match="inside"):
            with graph_optimizer_off():
                assert meta_off()
                raise RuntimeError("inside")
        assert meta_off() == before
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})
