"""Karpathy-recipe sanity checks: init loss ~ ln(K) and overfitting one batch."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from models.cnn import model, sanity


def _batch(n: int = 16, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 3), dtype=np.float32), np.arange(n) % k


def _small_model(learning_rate: float) -> tf_keras.Model:
    tf_keras.utils.set_random_seed(0)
    net = model.build_model((8, 8, 3), 4, filters=(8,), dropout=0.0)
    return model.compile_model(net, "adam", learning_rate, schedule="constant")


def test_mean_cross_entropy_matches_hand_computed_value():
    probs = np.array([[0.5, 0.5], [0.9, 0.1]])

    loss = sanity.mean_cross_entropy(probs, np.array([0, 1]))

    assert loss == pytest.approx(-(math.log(0.5) + math.log(0.1)) / 2)


def test_init_loss_check_passes_for_fresh_model():
    x, y = _batch()

    result = sanity.check_init_loss(_small_model(1e-3), x, y, num_classes=4)

    assert result.expected == pytest.approx(math.log(4))
    assert abs(result.loss - math.log(4)) < 0.05


def test_init_loss_check_fails_clearly_for_confident_wrong_initialisation():
    x, y = _batch()
    net = tf_keras.Sequential(
        [
            tf_keras.layers.Flatten(input_shape=(8, 8, 3)),
            tf_keras.layers.Dense(
                4,
                kernel_initializer="zeros",
                bias_initializer=tf_keras.initializers.Constant([20.0, 0.0, 0.0, 0.0]),
                activation="softmax",
            ),
        ]
    )

    with pytest.raises(sanity.SanityCheckError, match=r"loss at initialisation .* ln\(4\)"):
        sanity.check_init_loss(net, x, y, num_classes=4)


def test_init_loss_check_rejects_labels_outside_vocabulary():
    x, _ = _batch()

    with pytest.raises(sanity.SanityCheckError, match=r"labels must lie in \[0, 4\)"):
        sanity.check_init_loss(_small_model(1e-3), x, np.full(16, 7), num_classes=4)


def test_overfit_check_memorises_a_learnable_batch():
    x, y = _batch()

    result = sanity.check_overfit_batch(_small_model(1e-2), x, y, max_steps=150)

    assert result.accuracy == 1.0
    assert result.loss <= 0.1 * result.initial_loss
    assert result.steps <= 150


def test_overfit_check_fails_clearly_when_learning_rate_is_zero():
    x, y = _batch()

    with pytest.raises(sanity.SanityCheckError, match="could not overfit one batch of 16"):
        sanity.check_overfit_batch(_small_model(0.0), x, y, max_steps=20)


def test_overfit_check_fails_when_identical_images_carry_different_labels():
    x, y = _batch()
    x[:] = x[0]  # one image, four labels: at most 25% is reachable

    with pytest.raises(sanity.SanityCheckError, match=r"training accuracy 0\.\d+"):
        sanity.check_overfit_batch(_small_model(1e-2), x, y, max_steps=40)


def test_overfit_check_puts_the_model_back_and_leaves_its_traced_step_to_fit():
    x, y = _batch()
    net = _small_model(1e-2)
    before = [w.copy() for w in net.get_weights()]

    sanity.check_overfit_batch(net, x, y, max_steps=150)

    assert all(np.array_equal(a, b) for a, b in zip(before, net.get_weights(), strict=True))
    assert int(net.optimizer.iterations.numpy()) == 0
    assert all(not np.any(v.numpy()) for v in net.optimizer.variables)
    traced = net.train_function.experimental_get_tracing_count()
    assert traced == 1  # compile_model made the optimizer's slots: no second trace
    training = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)  # the split's shape: [None, ...]
    net.fit(training, epochs=1, verbose=0)
    assert net.train_function.experimental_get_tracing_count() == traced
    assert int(net.optimizer.iterations.numpy()) == 4


def test_overfit_check_puts_the_model_back_when_it_fails():
    x, y = _batch()
    net = _small_model(0.0)
    before = [w.copy() for w in net.get_weights()]

    with pytest.raises(sanity.SanityCheckError):
        sanity.check_overfit_batch(net, x, y, max_steps=5)

    assert all(np.array_equal(a, b) for a, b in zip(before, net.get_weights(), strict=True))
    assert int(net.optimizer.iterations.numpy()) == 0


def test_pick_balanced_takes_classes_round_robin():
    labels = np.array([0, 0, 0, 0, 1, 1, 2])

    picked = sanity.pick_balanced(labels, 5)

    assert sorted(labels[picked].tolist()) == [0, 0, 1, 1, 2]
    assert len(set(picked.tolist())) == 5


def _constant_model(answer: int, k: int = 4) -> tf_keras.Model:
    """Ignores its input: the logits' kernel is zero, the bias picks `answer`."""
    net = model.build_model((8, 8, 3), k, filters=(8,), dropout=0.0)
    logits = net.get_layer("logits")
    bias = np.zeros(k, np.float32)
    bias[answer] = 5.0
    logits.set_weights([np.zeros_like(logits.get_weights()[0]), bias])
    return net


def test_a_model_answering_one_class_fails_the_trained_model_check_in_one_line():
    x, y = _batch()
    names = ["cat", "dog", "fox", "owl"]

    with pytest.raises(sanity.SanityCheckError) as failure:
        sanity.check_not_constant(_constant_model(2), x, y, names)

    message = str(failure.value)
    assert "\n" not in message and "'fox' for all 16 training examples" in message
    assert isinstance(failure.value, ValueError)  # the command line prints it in one line


def test_a_model_answering_several_classes_passes_the_trained_model_check():
    x, y = _batch(k=2)
    x[y == 1] += 1.0  # class 1 is brighter
    inputs = tf_keras.Input((8, 8, 3))
    mean_rgb = tf_keras.layers.GlobalAveragePooling2D()(inputs)  # ~0.5 dark, ~1.5 bright
    head = tf_keras.layers.Dense(2, activation="softmax")
    net = tf_keras.Model(inputs, head(mean_rgb))
    head.set_weights([np.array([[-1.0, 1.0]] * 3, np.float32), np.array([3.0, -3.0], np.float32)])

    assert sanity.check_not_constant(net, x, y, ["dark", "bright"]) == 2
