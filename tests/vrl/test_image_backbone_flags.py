"""Backbone flags of `vrl run image` / `vrl compile image`: config and early refusals."""

from __future__ import annotations

import os

from vrl import cli, image


def test_backbone_flags_reach_the_trainer_config_with_an_absolute_weights_path():
    args = cli.build_parser().parse_args(
        ["run", "image", "--data", "d", "--arch", "mobilenet_v3_small", "--weights", "w.h5"]
        + ["--image-size", "96", "--fine-tune-layers", "12", "--fine-tune-epochs", "2"]
        + ["--no-augment", "--label-smoothing", "0.1", "--cache-budget-mb", "512"]
    )
    config = image.config_from_args(args)
    trainer = config.trainer_config()
    assert trainer["weights"] == os.path.abspath("w.h5")
    assert trainer["arch"] == "mobilenet_v3_small" and config.trainer.image_size == 96
    assert (trainer["fine_tune_layers"], trainer["fine_tune_epochs"]) == (12, 2)
    assert (trainer["augment"], trainer["label_smoothing"]) == (False, 0.1)
    assert trainer["cache_budget_mb"] == 512
    # Unset flags take the trainer's documented defaults.
    defaults = image.config_from_args(
        cli.build_parser().parse_args(["run", "image", "--data", "d"])
    )
    assert defaults.trainer_config()["weights"] is None


def test_compile_keeps_a_weights_path_as_the_pods_see_it():
    args = cli.build_parser().parse_args(
        ["compile", "image", "--data", "gs://b/d", "--serving-base", "gs://b/s"]
        + ["--out", "s.yaml", "--pipeline-root", "gs://b/r", "--image", "r/i@sha256:" + "0" * 64]
        + ["--arch", "efficientnet_v2_b0", "--weights", "/models/effnet.h5"]
    )
    config = image.config_from_args(args, pipeline_root="gs://b/r")
    assert config.trainer_config()["weights"] == "/models/effnet.h5"


def test_missing_weights_file_is_refused_before_the_pipeline_starts(tmp_path, capsys):
    home = tmp_path / "home"
    code = cli.main(
        ["run", "image", "--data", str(tmp_path), "--home", str(home)]
        + ["--arch", "mobilenet_v3_small", "--weights", str(tmp_path / "missing.h5")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.h5 does not exist" in err and len(err.strip().splitlines()) == 1
    assert not home.exists()


def test_weights_for_a_from_scratch_arch_and_tiny_backbone_inputs_are_refused(capsys):
    assert cli.main(["run", "image", "--data", "d", "--weights", "imagenet"]) == 2
    assert "weights must be 'none' or unset for arch 'convnet'" in capsys.readouterr().err
    code = cli.main(["run", "image", "--data", "d", "--arch", "resnet50", "--image-size", "16"])
    assert code == 2
    assert "image_size must be >= 32 for arch 'resnet50'" in capsys.readouterr().err
