"""Model factories and compile options."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from models.cnn import limits, model
from models.cnn.build import ModelBuilder
from models.cnn.config import TrainerConfig


@pytest.mark.parametrize("arch", limits.SMALL_ARCHITECTURES)
def test_build_model_maps_images_to_probability_rows_for_both_architectures(arch):
    net = model.build_model((16, 16, 3), 5, arch=arch, filters=(8, 16))
    x = np.random.default_rng(0).random((4, 16, 16, 3), dtype=np.float32)

    probs = net(x, training=False).numpy()

    assert net.input_shape == (None, 16, 16, 3)
    assert probs.shape == (4, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("arch", limits.SMALL_ARCHITECTURES)
def test_loss_at_init_is_close_to_ln_num_classes(arch):
    net = model.compile_model(model.build_model((16, 16, 3), 10, arch=arch, filters=(8, 16)))
    rng = np.random.default_rng(1)
    x = rng.random((32, 16, 16, 3), dtype=np.float32)
    y = rng.integers(0, 10, size=32)

    loss = net.evaluate(x, y, verbose=0, return_dict=True)["loss"]

    assert loss == pytest.approx(math.log(10), abs=0.05)


def test_mixed_precision_model_keeps_float32_softmax():
    net = model.build_model((8, 8, 3), 3, filters=(4,), mixed_precision=True)

    assert net.get_layer("block0_conv0").compute_dtype == "float16"
    assert net.output.dtype == "float32"


@pytest.mark.parametrize("name", model.OPTIMIZERS)
def test_compile_model_builds_each_optimizer_with_cosine_schedule(name):
    net = model.compile_model(
        model.build_model((8, 8, 3), 3, filters=(4,)), optimizer=name, decay_steps=100
    )

    lr_config = net.optimizer.get_config()["learning_rate"]
    assert lr_config["class_name"] == "CosineDecay"
    assert lr_config["config"]["decay_steps"] == 100


def test_cosine_schedule_decays_from_peak_to_alpha_floor():
    schedule = model.learning_rate_schedule(0.1, "cosine", decay_steps=10)

    assert float(schedule(0)) == pytest.approx(0.1)
    assert float(schedule(5)) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5), rel=1e-4)
    assert float(schedule(10)) == pytest.approx(0.1 * 0.01, rel=1e-4)
    assert model.learning_rate_schedule(0.1, "constant", decay_steps=10) == 0.1


def test_sgd_uses_nesterov_momentum():
    opt = model.make_optimizer("sgd", 0.05, schedule="constant")

    assert opt.nesterov and opt.momentum == pytest.approx(0.9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"arch": "vgg"}, "arch"),
        ({"num_classes": 1}, "num_classes"),
        ({"filters": ()}, "filters"),
    ],
)
def test_build_model_rejects_bad_arguments_by_name(kwargs, match):
    args = {"input_shape": (8, 8, 3), "num_classes": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        model.build_model(**args)


def test_make_optimizer_rejects_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        model.make_optimizer("adagrad")


def test_compact_net_is_two_conv_pool_stages_and_a_flat_classifier():
    net = model.build_model((28, 28, 3), 10, arch="compact", filters=limits.COMPACT_FILTERS)

    convs = [layer for layer in net.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [32, 64]
    assert not any("BatchNormalization" in layer.__class__.__name__ for layer in net.layers)
    # 3x3x3x32+32, 3x3x32x64+64, then 7*7*64 flattened features x 10 classes + 10.
    assert net.count_params() == 896 + 18_496 + 3136 * 10 + 10
    assert net.get_layer("pool").output_shape == (None, 3136)


@pytest.mark.parametrize(
    "side, filters",
    [
        (8, (16, 32, 64)),
        (28, (16, 32, 64)),
        (29, (24, 48, 96)),
        (32, (24, 48, 96)),
        (33, (32, 64, 128)),
        (224, (32, 64, 128)),
    ],
)
def test_unset_filters_size_the_default_convnet_to_its_input(side, filters):
    config = TrainerConfig()

    assert config.arch == "convnet" and config.filters is None
    assert config.resolved_filters(side) == filters
    net = model.build_model((side, side, 3), 10, filters=config.resolved_filters(side))
    convs = [layer for layer in net.layers if layer.__class__.__name__ == "Conv2D"]
    stem = [limits.STEM_FILTERS] if side > limits.SMALL_IMAGE_MAX_SIZE else []
    assert [c.filters for c in convs] == stem + [w for w in filters for _ in (0, 1)]


@pytest.mark.parametrize("side, final", [(28, 3), (29, 3), (32, 4), (33, 4), (96, 12)])
def test_the_stem_above_28_px_halves_the_side_without_losing_pixels_and_keeps_the_final_map(
    side, final
):
    net = model.build_model((side, side, 3), 5)

    names = [layer.name for layer in net.layers]
    # Keras can write and rebuild it (checkpoints and callbacks write its JSON config).
    assert [layer.name for layer in tf_keras.models.model_from_json(net.to_json()).layers] == names
    assert ("stem_space_to_depth" in names) == (side > limits.SMALL_IMAGE_MAX_SIZE)
    # The final feature map is the size three pooled stages give without a stem.
    assert net.get_layer("pool").input_shape == (None, final, final, 128)
    if side > limits.SMALL_IMAGE_MAX_SIZE:
        stem = net.get_layer("stem_conv_relu").output
        s2d = net.get_layer("stem_space_to_depth")
        x = tf.random.uniform((2, side, side, limits.STEM_FILTERS))
        y = s2d(x)
        assert y.shape == (2, (side + 1) // 2, (side + 1) // 2, 4 * limits.STEM_FILTERS)
        # Every input value is in the output once, and nothing else but padding zeros.
        assert stem.shape[-1] == limits.STEM_FILTERS
        assert float(tf.reduce_sum(y)) == pytest.approx(float(tf.reduce_sum(x)), rel=1e-5)
        assert int(tf.math.count_nonzero(y)) == int(tf.math.count_nonzero(x))
        # Traced with unknown sides (Keras relaxes shapes when it retraces): the same.
        relaxed = tf.function(s2d, input_signature=[tf.TensorSpec((None, None, None, 16))])
        assert relaxed(x).shape == y.shape and bool(tf.reduce_all(relaxed(x) == y))


def test_set_filters_or_the_compact_arch_keep_their_own_widths():
    assert TrainerConfig(filters=(8, 16)).resolved_filters(28) == (8, 16)
    assert TrainerConfig(filters=(8, 16)).resolved_filters(224) == (8, 16)
    assert TrainerConfig(arch="compact").resolved_filters(224) == limits.COMPACT_FILTERS
    assert TrainerConfig(arch="resnet").resolved_filters(64) == limits.DEFAULT_FILTERS
    # The narrow widths follow the stem: without it a 32 px convnet keeps the wide ones.
    assert TrainerConfig(arch="resnet").resolved_filters(32) == limits.DEFAULT_FILTERS
    assert TrainerConfig(stem=False).resolved_filters(32) == limits.DEFAULT_FILTERS
    assert TrainerConfig(stem=True).resolved_filters(32) == limits.NARROW_STEM_FILTERS


def test_the_stem_setting_overrides_the_size_rule_and_is_refused_for_other_archs():
    names = lambda net: [layer.name for layer in net.layers]  # noqa: E731
    assert "stem_space_to_depth" not in names(model.build_model((32, 32, 3), 5, stem=False))
    with_stem = model.build_model((28, 28, 3), 5, stem=True)
    assert "stem_space_to_depth" in names(with_stem)
    assert with_stem.get_layer("pool").input_shape == (None, 3, 3, 128)  # 28 -> 14 -> 7 -> 3
    with pytest.raises(ValueError, match="stem applies to arch 'convnet' only"):
        model.build_model((32, 32, 3), 5, arch="resnet", stem=True)
    with pytest.raises(ValueError, match="TrainerConfig.stem applies to arch 'convnet' only"):
        TrainerConfig(arch="resnet", stem=True)
    # The trainer builds what its config says.
    built = ModelBuilder.for_data(TrainerConfig(stem=False), (32, 32, 3), 5, 100).build()
    assert "stem_space_to_depth" not in names(built)
    assert "stem_space_to_depth" in names(
        ModelBuilder.for_data(TrainerConfig(), (32, 32, 3), 5, 100).build()
    )


@pytest.mark.parametrize(
    "settings, peak",
    [
        ({}, 2e-3),  # the default convnet
        ({"arch": "resnet"}, 2e-3),
        ({"arch": "compact"}, 1e-3),
        ({"arch": "mobilenet_v3_small", "weights": "none"}, 1e-3),
        ({"learning_rate": 5e-4}, 5e-4),  # a rate the user sets wins
    ],
)
def test_the_built_optimizer_starts_at_the_archs_default_peak_rate(settings, peak):
    config = TrainerConfig(filters=(4,), **settings)
    builder = ModelBuilder.for_data(config, (32, 32, 3), 3, decay_steps=100)

    lr_config = builder.build().optimizer.get_config()["learning_rate"]["config"]

    assert lr_config["initial_learning_rate"] == pytest.approx(peak)
