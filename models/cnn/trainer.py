"""TFX Trainer entry point for the CNN: `run_fn`, referenced as "models.cnn.trainer.run_fn".

`run_fn` runs named phases, each in its own module:

1. data (`training_data.prepare`): Transform's materialised examples (uint8
   pixels, no decoding here) -> image shape, class names, class weights,
   steps per epoch, the batched training and eval datasets;
2. build and compile (`build.ModelBuilder`) under the device strategy;
3. sanity checks (`sanity`): loss at init and overfitting one batch before
   training (on the model itself, put back afterwards, so fit reuses the
   traced train step); after it, the model must not answer one class;
4. fit in phases (`phases.fit`): train (or train the head, then fine-tune a
   pretrained backbone's top), early stopping keeping the best weights;
5. export (`export.export_model`): SavedModel with both serving signatures,
   TF Serving's warmup file, the optional TFLite copy;
6. analysis (`eval_split.analyze_export`): error analysis and the TFLite
   copy's accuracy on the eval split; then the training report and HParams.

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
import time
from collections.abc import Iterator
from typing import Any

import tf_keras
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from models.cnn import eval_split, export, phases, report, runtime, sanity, training_data
from models.cnn.backbones import trainer_config_checked
from models.cnn.build import ModelBuilder
from models.cnn.data import read_data_identity
from models.hparams import write_hparams
from models.reproducibility import restores_op_determinism, seed_everything

# The final metrics recorded as TensorBoard HParams.
HPARAM_METRICS = ("train_accuracy", "train_loss", "eval_accuracy", "eval_loss", "epochs_run")


@contextlib.contextmanager
def _timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    """Records and logs the wall time of one phase of run_fn."""
    start = time.perf_counter()
    yield
    seconds[phase] = round(time.perf_counter() - start, 2)
    logging.info("CNN trainer: %s took %.1fs", phase, seconds[phase])


def _evaluate(net: tf_keras.Model, inputs: training_data.TrainingData, steps: int | None) -> dict:
    """Eval accuracy and loss of the kept weights (empty without an eval split)."""
    if inputs.eval_ds is None:
        return {}
    metrics = net.evaluate(inputs.eval_ds, steps=steps, return_dict=True, verbose=0)
    return {"eval_accuracy": float(metrics["accuracy"]), "eval_loss": float(metrics["loss"])}


# TFX entry point: the Trainer component calls this function by name.
@restores_op_determinism
def run_fn(fn_args: FnArgs) -> None:
    """Trains the CNN and exports a SavedModel to `fn_args.serving_model_dir`.

    custom_config keys: see `models.cnn.config.TrainerConfig`, plus the sha256 of a
    local weights file (`WEIGHTS_SHA256_KEY` of models/cnn/backbones.py), checked first.
    """
    config = trainer_config_checked(fn_args.custom_config)
    runtime.skip_autograph_for_tf_keras()
    logging.info("CNN trainer config: %s", config)
    seed_everything(config.seed, config.deterministic)
    seconds: dict[str, float] = {}
    with _timed(seconds, "data"):
        inputs = training_data.prepare(fn_args, config)
    builder = ModelBuilder.for_data(
        config, inputs.input_shape, inputs.num_classes, inputs.steps_per_epoch * config.epochs
    )
    net = builder.build()
    summary: dict[str, Any] = {"config": dict(vars(config)), **inputs.summary(), "seconds": seconds}
    summary["filters"] = config.resolved_filters(inputs.input_shape[0])
    if config.sanity_checks:
        with _timed(seconds, "sanity_checks"):
            images, labels = training_data.sanity_sample(
                fn_args.train_files, inputs, seed=config.seed
            )
            summary["sanity"] = sanity.before_training(
                net,
                images,
                labels,
                inputs.num_classes,
                config.sanity_batch,
                config.sanity_steps,
                inputs.class_weight,
            )
        tf_keras.utils.set_random_seed(config.seed)
    with _timed(seconds, "fit"):
        fitted = phases.fit(net, config, inputs, builder, fn_args.model_run_dir, fn_args.eval_steps)
    if config.sanity_checks:
        summary["sanity"]["predicted_classes"] = sanity.check_not_constant(
            net, images, labels, inputs.label_names
        )
    summary.update(fitted.summary(net), **_evaluate(net, inputs, fn_args.eval_steps))
    logging.info("CNN training done: %s", {k: v for k, v in summary.items() if k != "config"})
    with _timed(seconds, "export"):
        tflite_content = export.export_model(
            net,
            inputs.tf_transform_output,
            inputs.label_names,
            fn_args.serving_model_dir,
            fn_args.eval_files or fn_args.train_files,
            config.tflite,
        )
    if fn_args.eval_files:
        with _timed(seconds, "analysis"):
            after = eval_split.analyze_export(
                net,
                fn_args.eval_files,
                inputs.tf_transform_output,
                fn_args.serving_model_dir,
                fn_args.model_run_dir,
                inputs.label_names,
                config.top_k,
                tflite_content,
                config.tflite,
            )
        summary["top_k_accuracy"] = after["error_analysis"]["top_k_accuracy"]
        summary.update({"tflite": after["tflite"]} if "tflite" in after else {})
    report.write_report(fn_args.model_run_dir, fitted.history, summary)
    final = {k: summary.get(k) for k in HPARAM_METRICS}
    identity = read_data_identity(fn_args.train_files)
    write_hparams(fn_args.model_run_dir, config, final, step=fitted.best_epoch, data=identity)
