from components.image_checks import ops

CFG = ops.CheckConfig(max_class_imbalance=3.0, max_side_ratio=4.0)


def rec(label, sha, h=32, w=32, c=3):
    return ops.ImageRecord(label_name=label, height=h, width=w, channels=c, sha256=sha)


def kinds(issues):
    return sorted((i.split, i.kind, i.severity) for i in issues)


def test_clean_balanced_data_has_no_issues():
    splits = {
        "train": [rec("a", "1"), rec("a", "2"), rec("b", "3"), rec("b", "4")],
        "eval": [rec("a", "5"), rec("b", "6")],
    }
    assert ops.run_checks(splits, CFG) == []


def test_imbalance_above_ratio_is_an_error_naming_both_classes():
    train = [rec("big", str(i)) for i in range(7)] + [rec("small", "x"), rec("small", "y")]
    (issue,) = ops.class_balance("train", train, CFG)
    assert issue.kind == "class_imbalance" and issue.severity == ops.ERROR
    assert "'big' has 7" in issue.description and "'small' has 2" in issue.description
    assert ops.class_balance("train", train[:6] + train[7:], CFG) == []  # 6/2 = 3.0 is allowed


def test_class_missing_from_eval_is_reported():
    splits = {"train": [rec("a", "1"), rec("b", "2")], "eval": [rec("a", "3")]}
    assert kinds(ops.missing_classes(splits)) == [("eval", "missing_class", ops.ERROR)]


def test_size_spread_and_channel_mix_are_warnings():
    records = [rec("a", "1", h=10, w=10, c=1), rec("a", "2", h=50, w=60, c=3)]
    assert kinds(ops.size_and_channel_spread("train", records, CFG)) == [
        ("train", "channel_mix", ops.WARNING),
        ("train", "size_spread", ops.WARNING),
    ]


def test_duplicates_warn_and_conflicting_labels_error():
    records = [rec("a", "h1"), rec("a", "h1"), rec("a", "h2"), rec("b", "h2")]
    assert kinds(ops.duplicates("train", records)) == [
        ("train", "conflicting_labels", ops.ERROR),
        ("train", "duplicate_images", ops.WARNING),
    ]


def test_same_image_in_train_and_eval_is_leakage():
    splits = {"train": [rec("a", "same"), rec("b", "t")], "eval": [rec("a", "same"), rec("b", "e")]}
    (issue,) = ops.leakage(splits, evals=["eval"])
    assert issue.kind == "train_eval_leak" and issue.split == "eval"
    assert "1 images" in issue.description


def test_empty_split_is_an_error():
    assert kinds(ops.class_balance("eval", [], CFG)) == [("eval", "empty_split", ops.ERROR)]


def test_imbalance_is_judged_on_the_whole_dataset_not_a_noisy_eval_sample():
    train = [rec(c, f"{c}{i}") for c in "ab" for i in range(8)]
    evals = [rec("a", "e1"), rec("a", "e2"), rec("a", "e3"), rec("a", "e4"), rec("b", "e5")]
    assert ops.run_checks({"train": train, "eval": evals}, CFG) == []  # 12 vs 9 overall
    skewed = train + [rec("a", f"x{i}") for i in range(30)]
    (issue,) = ops.run_checks({"train": skewed, "eval": evals}, CFG)
    assert (issue.split, issue.kind) == (ops.ALL_SPLITS, "class_imbalance")


# ImageExampleGen's listing of the records below: (split, sha256) -> (path, label).
SOURCES = {
    ("train", "h1" * 32): [("cats/a.png", "cat"), ("cats/a_copy.png", "cat")],
    ("train", "h2" * 32): [("cats/b.png", "cat"), ("dogs/b.png", "dog")],
    ("eval", "h3" * 32): [("cats/c.png", "cat")],
    ("train", "h3" * 32): [("cats/c_again.png", "cat")],
}


def test_duplicate_and_conflict_messages_name_two_files_and_the_hash():
    records = [rec("cat", "h1" * 32), rec("cat", "h1" * 32)]
    records += [rec("cat", "h2" * 32), rec("dog", "h2" * 32)]
    dup, conflict = ops.duplicates("train", records, SOURCES)
    assert conflict.kind == "conflicting_labels" and conflict.severity == ops.ERROR
    assert conflict.description == (
        "1 identical images carry different labels, e.g. cats/b.png (cat) and "
        "dogs/b.png (dog), sha256 h2h2h2h2h2h2"
    )
    assert dup.kind == "duplicate_images" and dup.severity == ops.WARNING
    assert dup.description == (
        "2 images occur more than once (2 extra copies), e.g. cats/a.png and "
        "cats/a_copy.png, sha256 h1h1h1h1h1h1"
    )


def test_leak_message_names_the_file_in_each_split():
    splits = {"train": [rec("cat", "h3" * 32)], "eval": [rec("cat", "h3" * 32)]}
    (issue,) = ops.run_checks(splits, CFG, SOURCES)[-1:]
    assert issue.kind == "train_eval_leak" and issue.split == "eval"
    assert issue.description == (
        "1 images of split 'eval' also occur in 'train', e.g. cats/c.png (eval) and "
        "cats/c_again.png (train), sha256 h3h3h3h3h3h3"
    )


def test_without_a_listing_messages_keep_the_sha256_wording():
    records = [rec("cat", "h2" * 32), rec("dog", "h2" * 32)]
    assert [i.description for i in ops.duplicates("train", records)] == [
        "1 images occur more than once (1 extra copies), e.g. sha256 h2h2h2h2h2h2",
        "1 identical images carry different labels, e.g. sha256 h2h2h2h2h2h2 "
        "labelled ['cat', 'dog']",
    ]
    splits = {"train": [rec("cat", "h3" * 32)], "eval": [rec("cat", "h3" * 32)]}
    (issue,) = ops.leakage(splits, evals=["eval"], sources={})
    assert issue.description.endswith("e.g. sha256 h3h3h3h3h3h3")
