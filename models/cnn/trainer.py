"""TFX Trainer entry point for the CNN: `run_fn`, referenced as "models.cnn.trainer.run_fn".

Steps: read hyperparameters (`TrainerConfig`), build the input pipeline over
Transform's materialised examples (uint8 pixels, no decoding here), run the
sanity checks, fit with early stopping / checkpoints / TensorBoard, export the
SavedModel with both serving signatures, and write a training report into
`model_run_dir`.

Epochs or steps: by default each epoch is one full pass over the training
split (`fn_args.train_steps` is None when TrainArgs has no num_steps), for
`epochs` epochs, or several passes when one pass is fewer than
`min_steps / epochs` batches (a few hundred images: BatchNorm's moving
statistics need the steps). If TrainArgs sets num_steps, training runs
`epochs` epochs of ceil(num_steps / epochs) steps each on a repeated dataset
(early stopping may end it sooner). `fn_args.eval_steps` None evaluates the
whole eval split.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow_transform as tft
import tf_keras
from absl import logging
from tfx import v1 as tfx

from contracts import warmup
from models.cnn import augment, data, eval_split, model, phases, report, runtime, sanity, signatures
from models.cnn.backbones import trainer_config_checked
from models.cnn.config import TrainerConfig
from models.hparams import write_hparams
from models.reproducibility import restores_op_determinism, seed_everything

SANITY_SAMPLE = 256  # records decoded for the sanity checks


@contextlib.contextmanager
def _timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    """Records and logs the wall time of one phase of run_fn."""
    start = time.perf_counter()
    yield
    seconds[phase] = round(time.perf_counter() - start, 2)
    logging.info("CNN trainer: %s took %.1fs", phase, seconds[phase])


def image_shape(
    train_files: list[str], tf_transform_output: tft.TFTransformOutput, image_size: int | None
) -> tuple:
    """(S, S, 3) of the materialised images, checked against the config's image_size."""
    shape = data.image_shape(train_files, tf_transform_output)
    if image_size is not None and shape[:2] != (image_size, image_size):
        raise ValueError(
            f"Trainer custom_config image_size={image_size} but the transform graph outputs "
            f"{shape}; pass the same image_size to Transform and Trainer"
        )
    return shape


def sanity_sample(
    train_files: list[str], tf_transform_output: tft.TFTransformOutput, input_shape: tuple
) -> tuple:
    """(images, labels) of the first `SANITY_SAMPLE` training examples, as the model sees them."""
    sample = data.transformed_dataset(
        train_files, tf_transform_output, input_shape, max_records=SANITY_SAMPLE
    )
    return data.take_arrays(sample, SANITY_SAMPLE)


def run_sanity_checks(
    fn_args: tfx.components.FnArgs,
    tf_transform_output: tft.TFTransformOutput,
    net: tf_keras.Model,
    build_compiled: Callable[[], tf_keras.Model],
    num_classes: int,
    config: TrainerConfig,
    input_shape: tuple,
) -> dict[str, Any]:
    """Init loss on a sample of real examples, then overfit one balanced small batch."""
    images, labels = sanity_sample(fn_args.train_files, tf_transform_output, input_shape)
    init = sanity.check_init_loss(net, images, labels, num_classes)
    picked = sanity.pick_balanced(labels, config.sanity_batch)
    overfit = sanity.check_overfit_batch(
        build_compiled, images[picked], labels[picked], max_steps=config.sanity_steps
    )
    return {
        "init_loss": init.loss,
        "init_loss_expected": init.expected,
        "overfit_steps": overfit.steps,
    }


def epoch_steps(
    train_steps: int | None, train_examples: int, config: TrainerConfig
) -> tuple[int, bool]:
    """(optimizer steps per epoch, whether the training split repeats within an epoch).

    TrainArgs' num_steps, when set, is spread over the epochs. Otherwise an epoch
    is one pass over the split, or more passes when one pass is fewer than
    `config.min_steps / epochs` batches (see `TrainerConfig.min_steps`).
    """
    if train_steps:
        return math.ceil(train_steps / config.epochs), True
    one_pass = math.ceil(train_examples / config.batch_size)
    wanted = math.ceil(config.min_steps / config.epochs)
    if wanted > one_pass:
        return wanted, True
    return one_pass, False


def make_callbacks(
    fn_args: tfx.components.FnArgs, config: TrainerConfig, has_eval: bool, examples: int | None
) -> tuple[list[tf_keras.callbacks.Callback], tf_keras.callbacks.EarlyStopping]:
    """Early stopping (best weights restored), checkpoints, TensorBoard, progress lines."""
    monitor = "val_loss" if has_eval else "loss"
    early = tf_keras.callbacks.EarlyStopping(
        monitor=monitor, patience=config.patience, restore_best_weights=True
    )
    checkpoints = tf_keras.callbacks.ModelCheckpoint(
        os.path.join(fn_args.model_run_dir, "checkpoints", "best"),
        monitor=monitor,
        save_best_only=True,
        save_weights_only=True,
    )
    tensorboard = tf_keras.callbacks.TensorBoard(
        log_dir=fn_args.model_run_dir, update_freq="epoch", profile_batch=0
    )
    total = config.epochs + (config.fine_tune_epochs if config.pretrained else 0)
    progress = report.EpochProgressLogger(total, examples)
    return [early, checkpoints, tensorboard, progress], early


def write_warmup(
    file_patterns: list[str],
    tf_transform_output: tft.TFTransformOutput,
    shape: tuple,
    saved_model_dir: str,
    count: int = 3,
) -> None:
    """TF Serving's warmup file from real images of the data (PNG-encoded transformed
    images), inside the export, so every pushed version warms up (in TF Serving and
    `vrl serve`) before serving."""

    images = data.png_images(file_patterns, tf_transform_output, shape, count)
    if images:
        warmup.write_warmup_file(saved_model_dir, warmup.image_requests("", images))


# TFX entry point: the Trainer component calls this function by name.
@restores_op_determinism
def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Trains the CNN and exports a SavedModel to `fn_args.serving_model_dir`.

    custom_config keys: see `models.cnn.config.TrainerConfig`, plus the sha256 of a
    local weights file (`WEIGHTS_SHA256_KEY` of models/cnn/backbones.py), checked first.
    """
    config = trainer_config_checked(fn_args.custom_config)
    runtime.skip_autograph_for_tf_keras()
    logging.info("CNN trainer config: %s", config)
    seed_everything(config.seed, config.deterministic)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    input_shape = image_shape(fn_args.train_files, tf_transform_output, config.image_size)
    label_names = data.read_label_vocab(data.find_label_vocab(fn_args.train_files))
    num_classes = len(label_names)
    strategy, mixed = runtime.choose_strategy()
    logging.info(
        "%d classes, input %s, %d replica(s), mixed precision %s",
        num_classes,
        input_shape,
        strategy.num_replicas_in_sync,
        mixed,
    )

    train_labels = data.read_labels(fn_args.train_files)
    train_examples = len(train_labels)
    class_weight = None
    if config.class_weights:
        class_weight = augment.class_weights(
            augment.label_counts(train_labels), config.class_weight_min_ratio
        )
    cache_mb = data.decoded_megabytes(train_examples, input_shape)
    cache = config.cache and cache_mb <= config.cache_budget_mb
    logging.info(
        "decoded training split %.0f MB, cache budget %d MB: %s; class weights %s",
        cache_mb,
        config.cache_budget_mb,
        "cached" if cache else "decoded every epoch",
        class_weight,
    )
    steps_per_epoch, repeat = epoch_steps(fn_args.train_steps, train_examples, config)
    decay_steps = steps_per_epoch * config.epochs
    has_eval = bool(fn_args.eval_files)
    train_ds = data.training_dataset(
        fn_args.train_files,
        tf_transform_output,
        input_shape,
        config.batch_size,
        repeat=repeat,
        seed=config.seed,
        cache=cache,
    )
    if config.resolved_augment:
        augmenter = augment.build_augmenter(
            input_shape[0],
            config.augment_rotation,
            config.augment_zoom,
            config.augment_contrast,
            config.augment_crop,
            seed=config.seed,
        )
        train_ds = augment.augment_dataset(train_ds, augmenter)
    eval_ds = (
        data.training_dataset(
            fn_args.eval_files, tf_transform_output, input_shape, config.batch_size, shuffle=False
        )
        if has_eval
        else None
    )

    def build_compiled(schedule: str = config.schedule) -> tf_keras.Model:
        with strategy.scope():
            net = model.build_model(
                input_shape,
                num_classes,
                arch=config.arch,
                filters=config.filters,
                dropout=config.dropout,
                mixed_precision=mixed,
                weights=config.resolved_weights,
            )
            return model.compile_model(
                net,
                optimizer=config.optimizer,
                learning_rate=config.learning_rate,
                schedule=schedule,
                decay_steps=decay_steps,
                mixed_precision=mixed,
                label_smoothing=config.label_smoothing,
            )

    def recompile(net: tf_keras.Model, learning_rate: float) -> None:
        with strategy.scope():
            model.compile_model(
                net,
                optimizer=config.optimizer,
                learning_rate=learning_rate,
                schedule="constant",
                mixed_precision=mixed,
                label_smoothing=config.label_smoothing,
            )

    net = build_compiled()
    summary: dict[str, Any] = {
        "config": dict(vars(config)),
        "num_classes": num_classes,
        "train_examples": train_examples,
        "cached": cache,
        "class_weights": class_weight,
    }
    seconds: dict[str, float] = {}
    summary["seconds"] = seconds
    if config.sanity_checks:
        with _timed(seconds, "sanity_checks"):
            summary["sanity"] = run_sanity_checks(
                fn_args,
                tf_transform_output,
                net,
                functools.partial(build_compiled, schedule="constant"),
                num_classes,
                config,
                input_shape,
            )
        tf_keras.utils.set_random_seed(config.seed)

    callbacks, early = make_callbacks(
        fn_args, config, has_eval, steps_per_epoch * config.batch_size
    )
    with _timed(seconds, "fit"):
        fitted = phases.fit_in_phases(
            net,
            config,
            train_ds,
            eval_ds,
            callbacks,
            early,
            recompile,
            steps_per_epoch=steps_per_epoch if repeat else None,
            validation_steps=fn_args.eval_steps,
            class_weight=class_weight,
        )
    history, best = fitted.history, fitted.best_epoch
    if config.sanity_checks:
        images, labels = sanity_sample(fn_args.train_files, tf_transform_output, input_shape)
        summary["sanity"]["predicted_classes"] = sanity.check_not_constant(
            net, images, labels, label_names
        )
    summary.update(
        epochs_run=len(history.get("loss", [])),
        phases=fitted.phases,
        optimizer_steps=int(net.optimizer.iterations.numpy()),
        best_epoch=best + 1,
        train_accuracy=float(history["accuracy"][best]),
        train_loss=float(history["loss"][best]),
    )
    if eval_ds is not None:
        metrics = net.evaluate(eval_ds, steps=fn_args.eval_steps, return_dict=True, verbose=0)
        summary.update(eval_accuracy=float(metrics["accuracy"]), eval_loss=float(metrics["loss"]))
    logging.info("CNN training done: %s", {k: v for k, v in summary.items() if k != "config"})

    with _timed(seconds, "export"):
        signatures.export_serving_model(
            net, tf_transform_output, label_names, fn_args.serving_model_dir
        )
        write_warmup(
            fn_args.eval_files or fn_args.train_files,
            tf_transform_output,
            input_shape,
            fn_args.serving_model_dir,
        )
    # Error analysis and the optional TFLite export (models/cnn/eval_split.py).
    if fn_args.eval_files:
        with _timed(seconds, "error_analysis"):
            after = eval_split.analyze_export(
                net,
                fn_args.eval_files,
                tf_transform_output,
                fn_args.serving_model_dir,
                fn_args.model_run_dir,
                label_names,
                config.top_k,
                config.tflite,
            )
        summary["top_k_accuracy"] = after["error_analysis"]["top_k_accuracy"]
        if "tflite" in after:
            summary["tflite"] = after["tflite"]
    elif config.tflite:
        raise ValueError("tflite export needs an eval split to measure its accuracy; none given")
    report.write_report(fn_args.model_run_dir, history, summary)
    final = ("train_accuracy", "train_loss", "eval_accuracy", "eval_loss", "epochs_run")
    write_hparams(fn_args.model_run_dir, config, {k: summary.get(k) for k in final}, step=best)
