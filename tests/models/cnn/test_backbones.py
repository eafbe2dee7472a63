"""Pretrained backbones, fine-tuning phases, augmentation, class weights, label smoothing."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from models.cnn import augment, backbones, model, phases
from models.cnn.config import TrainerConfig

pytestmark = pytest.mark.slow  # trains backbones and small models: not in `make check`

SIZE = 32


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> tuple[str, list[np.ndarray]]:
    """A local weights file of MobileNetV3Small (random init): what --weights PATH takes."""
    path = str(tmp_path_factory.mktemp("weights") / "mobilenet_v3_small.weights.h5")
    net = backbones.build_backbone("mobilenet_v3_small", (SIZE, SIZE, 3))
    net.save_weights(path)
    return path, [w.numpy() for w in net.weights]


def test_backbone_model_scales_inside_the_graph_and_phase1_trains_only_the_head(weights_file):
    net = model.build_model((SIZE, SIZE, 3), 3, arch="mobilenet_v3_small", weights=weights_file[0])
    names = [layer.name for layer in net.layers]
    assert names[:2] == ["image_xf", "to_0_255"] and "backbone" in names
    probs = net(np.random.default_rng(0).random((2, SIZE, SIZE, 3), dtype=np.float32)).numpy()
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    backbone = backbones.backbone_of(net)
    assert backbone.trainable is False
    assert [w.name.split("/")[0] for w in net.trainable_weights] == ["logits", "logits"]
    # Phase 2: the top layers, BatchNorm excepted; nothing below them.
    assert backbones.unfreeze_top(net, 30) > 0
    assert any(layer.trainable for layer in backbone.layers[-30:])
    assert not any(layer.trainable for layer in backbone.layers[:-30])
    bn = tf_keras.layers.BatchNormalization
    bns = [layer for layer in backbone.layers if isinstance(layer, bn)]
    assert bns and not any(layer.trainable for layer in bns)


def _batchnorm_layers(net: tf_keras.Model) -> list[tf_keras.layers.BatchNormalization]:
    bn = tf_keras.layers.BatchNormalization
    return [layer for layer in backbones.backbone_of(net).layers if isinstance(layer, bn)]


@pytest.mark.parametrize("pretrained", [False, True], ids=["from_scratch", "fine_tuning"])
def test_batchnorm_learns_batch_statistics_from_scratch_and_stays_frozen_when_fine_tuning(
    pretrained, weights_file
):
    weights = weights_file[0] if pretrained else "none"
    net = model.build_model((SIZE, SIZE, 3), 2, arch="mobilenet_v3_small", weights=weights)
    if pretrained:
        backbones.unfreeze_top(net, 30)  # phase 2: even with layers unfrozen
    model.compile_model(net, learning_rate=1e-3, schedule="constant")
    before = [layer.moving_variance.numpy().copy() for layer in _batchnorm_layers(net)]
    rng = np.random.default_rng(0)
    images = rng.random((8, SIZE, SIZE, 3), dtype=np.float32)
    net.train_on_batch(images, np.array([0, 1] * 4))
    # Variances: a BatchNorm fed by another sees batch means of ~0 either way.
    after = [layer.moving_variance.numpy() for layer in _batchnorm_layers(net)]
    moved = [not np.allclose(a, b) for a, b in zip(before, after, strict=True)]
    momentums = {layer.momentum for layer in _batchnorm_layers(net)}
    if pretrained:  # inference mode: the pretrained statistics are kept
        assert not any(moved) and momentums == {0.999}
    else:  # training mode: batch statistics, moving averages that keep up
        assert all(moved) and momentums == {model.BN_MOMENTUM}


def test_local_weights_file_is_loaded_and_a_file_of_another_model_is_refused(
    weights_file, tmp_path
):
    path, saved = weights_file
    loaded = backbones.build_backbone("mobilenet_v3_small", (SIZE, SIZE, 3), path)
    for a, b in zip(loaded.weights, saved, strict=True):
        np.testing.assert_array_equal(a.numpy(), b)
    other = str(tmp_path / "convnet.weights.h5")
    model.build_model((SIZE, SIZE, 3), 2, filters=(4,)).save_weights(other)
    with pytest.raises(backbones.WeightsError, match="does not fit the mobilenet_v3_small"):
        backbones.check_weights("mobilenet_v3_small", other, SIZE)
    with pytest.raises(backbones.WeightsError, match="does not exist"):
        backbones.check_weights("mobilenet_v3_small", path + ".missing", SIZE)


def test_resnet50_input_is_caffe_scaled_bgr_minus_mean():
    inputs = tf_keras.Input((2, 2, 3))
    scaled = tf_keras.Model(inputs, backbones.input_scaling("resnet50", inputs))
    out = scaled(np.ones((1, 2, 2, 3), np.float32) * [1.0, 0.5, 0.0]).numpy()[0, 0, 0]
    np.testing.assert_allclose(out, [0.0 - 103.939, 127.5 - 116.779, 255.0 - 123.68], atol=1e-3)


def test_mixed_precision_backbone_from_scratch_runs_on_cpu_with_float32_output():
    net = model.build_model(
        (SIZE, SIZE, 3), 2, arch="mobilenet_v3_small", weights="none", mixed_precision=True
    )
    backbone = backbones.backbone_of(net)
    assert backbone.trainable  # from scratch: every layer trains in the one phase
    assert backbone.layers[2].compute_dtype == "float16"
    assert net(np.zeros((1, SIZE, SIZE, 3), np.float32)).dtype == tf.float32
    assert tf_keras.mixed_precision.global_policy().name == "float32"  # restored


def _tiny_backbone_model() -> tf_keras.Model:
    """The structure build_backbone_model makes, with a two-layer stand-in backbone."""
    inner_in = tf_keras.Input((8, 8, 3))
    x = tf_keras.layers.Conv2D(4, 3, name="conv")(inner_in)
    x = tf_keras.layers.BatchNormalization(name="bn")(x)
    backbone = tf_keras.Model(inner_in, tf_keras.layers.Conv2D(4, 1, name="top")(x))
    backbone._name = backbones.BACKBONE_NAME
    backbone.trainable = False
    inputs = tf_keras.Input((8, 8, 3))
    x = tf_keras.layers.GlobalAveragePooling2D()(backbone(inputs, training=False))
    return tf_keras.Model(inputs, tf_keras.layers.Dense(2, activation="softmax")(x))


def test_two_phases_under_mirrored_strategy_on_one_cpu_fine_tune_at_lower_rate():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    config = TrainerConfig(
        arch="mobilenet_v3_small",
        weights="local.h5",
        epochs=2,
        fine_tune_epochs=2,
        fine_tune_layers=2,
        learning_rate=1e-2,
    )
    with strategy.scope():
        net = model.compile_model(_tiny_backbone_model(), learning_rate=1e-2, label_smoothing=0.1)

    def recompile(m, rate):
        with strategy.scope():
            model.compile_model(m, learning_rate=rate, schedule="constant")

    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 8)
    images = rng.random((16, 8, 8, 3), dtype=np.float32) + labels[:, None, None, None]
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    early = tf_keras.callbacks.EarlyStopping(monitor="loss", patience=3)
    result = phases.fit_in_phases(net, config, ds, None, [early], early, recompile)
    assert [p["phase"] for p in result.phases] == ["head", "fine_tune"]
    assert result.phases[1]["lr"] == pytest.approx(1e-3)
    assert result.phases[1]["layers"] == 1  # "top" and "bn" are the top two; BN stays frozen
    assert len(result.history["loss"]) == 4 and 0 <= result.best_epoch < 4
    trainable = {w.name.split("/")[0] for w in net.trainable_weights}
    if result.best_epoch >= 2:  # phase 2 kept: the top conv trains, BatchNorm never
        assert "top" in trainable and "bn" not in trainable


def test_trainer_config_checks_backbone_fields():
    assert TrainerConfig(arch="efficientnet_v2_b0").resolved_weights == "imagenet"
    assert TrainerConfig().resolved_weights == "none" and not TrainerConfig().resolved_augment
    scratch = TrainerConfig(arch="mobilenet_v3_small", weights="none")
    assert not scratch.pretrained and scratch.resolved_augment
    with pytest.raises(ValueError, match="weights"):
        TrainerConfig(arch="convnet", weights="imagenet")
    with pytest.raises(ValueError, match="image_size must be >= 32"):
        TrainerConfig(arch="resnet50", image_size=16)
    with pytest.raises(ValueError, match="fine_tune_lr_factor"):
        TrainerConfig(fine_tune_lr_factor=2.0)


def test_augmentation_changes_training_batches_and_keeps_shape_and_range():
    augmenter = augment.build_augmenter(SIZE, seed=1)
    images = np.random.default_rng(0).random((4, SIZE, SIZE, 3), dtype=np.float32)
    ds = tf.data.Dataset.from_tensors((images, np.arange(4)))
    out, labels = next(iter(augment.augment_dataset(ds, augmenter)))
    assert out.shape == images.shape and np.array_equal(labels, np.arange(4))
    assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0
    assert float(tf.reduce_mean(tf.abs(out - images))) > 0.01
    # Called as layers in inference mode (never done by the model) it is the identity
    # except the crop's resize: the augmenter is not part of any exported graph.


def test_class_weights_only_when_imbalanced_and_average_to_one():
    assert augment.class_weights({0: 10, 1: 12}) is None
    weights = augment.class_weights({0: 30, 1: 10}, min_ratio=1.5)
    assert weights == {0: pytest.approx(40 / 60), 1: pytest.approx(40 / 20)}
    assert (30 * weights[0] + 10 * weights[1]) / 40 == pytest.approx(1.0)
    assert augment.label_counts(np.array([1, 0, 1, 1])) == {0: 1, 1: 3}


def test_label_smoothing_loss_matches_hand_computed_value():
    loss = model.SmoothedSparseCrossentropy(0.1)
    probs = tf.constant([[0.7, 0.2, 0.1]])
    # targets: 0.9 + 0.1/3 on class 0, 0.1/3 elsewhere
    t = np.array([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3])
    expected = -(t * np.log([0.7, 0.2, 0.1])).sum()
    assert float(loss(tf.constant([0]), probs)) == pytest.approx(expected, rel=1e-5)


def test_trainer_refuses_a_weights_file_changed_after_the_pipeline_was_defined(tmp_path):
    path = tmp_path / "backbone.weights.h5"
    path.write_bytes(b"defined")
    custom = {"arch": "mobilenet_v3_small", "weights": str(path)}
    custom[backbones.WEIGHTS_SHA256_KEY] = backbones.weights_sha256(str(path))
    assert backbones.trainer_config_checked(custom).weights == str(path)
    path.write_bytes(b"replaced")
    with pytest.raises(backbones.WeightsError, match="changed after the pipeline was defined"):
        backbones.trainer_config_checked(custom)
    # Without a recorded hash (e.g. a cluster path not readable at compile time): no check.
    del custom[backbones.WEIGHTS_SHA256_KEY]
    assert backbones.trainer_config_checked(custom).weights == str(path)
