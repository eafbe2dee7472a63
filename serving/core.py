"""What both front ends (gRPC, REST) call: lookups, predict, classify, regress."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import grpc
import numpy as np
import tensorflow as tf

from contracts import features
from serving import image_guard
from serving.batching import Batcher, BatchingOptions
from serving.errors import ServingError, invalid
from serving.limits import RequestBudget, RequestLimits
from serving.metrics import Metrics
from serving.model_config import ModelSpec
from serving.registry import ModelRegistry
from serving.request_log import Parts, RequestLogger
from serving.servable import (
    CLASSIFY_METHOD,
    DEFAULT_SIGNATURE,
    REGRESS_METHOD,
    LoadedVersion,
    check_output_filter,
    filter_outputs,
)


class ServingCore:
    """Registry + optional batcher + metrics, and TF Serving's per-server switches."""

    def __init__(
        self,
        registry: ModelRegistry,
        batching: BatchingOptions | None = None,
        metrics: Metrics | None = None,
        method_name_check: bool = False,
        tensor_content: bool = False,
        limits: RequestLimits | None = None,
        request_log: RequestLogger | None = None,
    ) -> None:
        self.registry = registry
        self.limits = limits or RequestLimits()
        """Caps on one request, checked before allocation (serving/limits.py)."""
        self.metrics = metrics or Metrics()
        self.batcher = Batcher(batching, self.metrics) if batching else None
        self.method_name_check = method_name_check
        """--enable_signature_method_name_check: Classify/Regress need the method name."""
        self.tensor_content = tensor_content
        """--enable_serialization_as_tensor_content: gRPC outputs packed in tensor_content."""
        self.request_log = request_log or RequestLogger([], self.metrics)
        """Samples and writes the requests of models with a logging_config
        (serving/request_log.py)."""

    def stop(self) -> None:
        """Stops the watcher and the batcher."""
        self.registry.stop()
        self.request_log.stop()
        if self.batcher is not None:
            self.batcher.stop()

    def reload(self, specs: list[ModelSpec]) -> None:
        """Serves a new model config (HandleReloadConfigRequest, or the config file poll):
        its models, version policies, labels and logging_configs. Raises OSError or
        ValueError (a logging_config that cannot be applied) or ServingError (the
        registry's refusal) and then changes nothing."""
        self.request_log.check(specs)
        self.registry.reload(specs)
        self.request_log.reconfigure(specs)

    def log_request(self, kind: str, servable: LoadedVersion, signature: str, parts: Parts) -> None:
        """Queues a PredictionLog of this request when its model's logging_config samples
        it; `kind` names the API (serving/request_log.py LOG_KINDS)."""
        if (target := self.request_log.sample(servable.name)) is not None:
            self.request_log.log(target, kind, servable.name, servable.version, signature, parts)

    def metrics_text(self) -> str:
        """The Prometheus page."""
        return self.metrics.render()

    @contextlib.contextmanager
    def measure(self, model: str, api: str, entrypoint: str) -> Iterator[dict]:
        """Records TF Serving's request count (any status) and latency (successes, in us)."""
        info = {"version": ""}
        start = time.perf_counter()
        status = "UNKNOWN"
        try:
            yield info
            status = "OK"
        except ServingError as e:
            status = e.code.name
            raise
        finally:
            micros = (time.perf_counter() - start) * 1e6
            self.metrics.record_request(model, api, entrypoint, status, micros)

    def predict(
        self,
        servable: LoadedVersion,
        signature_name: str,
        inputs: dict[str, np.ndarray],
        output_filter: list[str] | tuple[str, ...] = (),
        budget: RequestBudget | None = None,
        deadline: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Checks and runs one Predict on a resolved version.

        `budget` holds what the front end already counted while converting the inputs
        (their declared sizes); encoded images are added to it here, from their headers.
        `deadline` (time.monotonic()) bounds the time the request may wait to run.
        """
        signature_name = signature_name or DEFAULT_SIGNATURE
        check_output_filter(servable.signature(signature_name), output_filter)
        prepared = servable.prepare(signature_name, inputs)
        budget = budget or RequestBudget(self.limits)
        for alias, value in prepared.items():
            if value.dtype != object:
                continue
            if image_guard.is_image_input(alias):
                for i, data in enumerate(value.ravel()):
                    image_guard.check_image(f"input '{alias}'[{i}]", data, budget)
            elif alias == features.EXAMPLES_INPUT_KEY:
                for i, data in enumerate(value.ravel()):
                    image_guard.check_example_images(f"input '{alias}'[{i}]", data, budget)
        start = time.perf_counter()
        if self.batcher is not None:
            outputs = self.batcher.execute(servable, signature_name, prepared, deadline)
        else:
            outputs = servable.execute(signature_name, prepared)
        self._runtime(servable, "Predict", start, deadline)
        return filter_outputs(outputs, output_filter)

    def _runtime(
        self, servable: LoadedVersion, api: str, start: float, deadline: float | None
    ) -> None:
        """Records TF Serving's runtime_latency; a run that ended past `deadline` fails
        with DEADLINE_EXCEEDED, as TF Serving's session run with a timeout does."""
        self.metrics.record_runtime(servable.name, api, (time.perf_counter() - start) * 1e6)
        if deadline is not None and time.monotonic() > deadline:
            raise ServingError(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"{api} on {servable.name} ran past its deadline"
            )

    def classify(
        self,
        servable: LoadedVersion,
        signature_name: str,
        examples: list[bytes],
        deadline: float | None = None,
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Runs a classify signature; returns (classes [N,K] or None, scores [N,K] or None)."""
        servable.examples_signature(signature_name, CLASSIFY_METHOD, self.method_name_check)
        self._check_examples(examples)
        start = time.perf_counter()
        outputs = self._run_examples(servable, signature_name, examples)
        self._runtime(servable, "Classify", start, deadline)
        return _classification(outputs, len(examples))

    def regress(
        self,
        servable: LoadedVersion,
        signature_name: str,
        examples: list[bytes],
        deadline: float | None = None,
    ) -> np.ndarray:
        """Runs a regress signature; returns one float per example."""
        servable.examples_signature(signature_name, REGRESS_METHOD, self.method_name_check)
        self._check_examples(examples)
        start = time.perf_counter()
        outputs = self._run_examples(servable, signature_name, examples)
        self._runtime(servable, "Regress", start, deadline)
        return _regression(outputs, len(examples))

    def multi_inference(
        self, servable: LoadedVersion, tasks: list[tuple[str, str]], examples: list[bytes]
    ) -> list[tuple | np.ndarray]:
        """Classification and regression tasks, one signature each, over the same examples
        (TF Serving's MultiInference); returns per task what classify/regress return."""
        if not tasks:
            raise invalid("MultiInferenceRequest must contain at least one task.")
        keys = []
        for signature_name, method in tasks:
            key = signature_name or DEFAULT_SIGNATURE
            if key in keys:
                raise invalid(f"Duplicate evaluation of signature: {key}")
            if method not in (CLASSIFY_METHOD, REGRESS_METHOD):
                raise ServingError(
                    grpc.StatusCode.UNIMPLEMENTED, f"Unsupported signature method_name: {method}"
                )
            servable.examples_signature(key, method, self.method_name_check)
            keys.append(key)
        self._check_examples(examples)
        self.metrics.record_examples(servable.name, len(examples))
        results = []
        for key, (_, method) in zip(keys, tasks, strict=True):
            outputs = self._run_examples(servable, key, examples)
            post = _classification if method == CLASSIFY_METHOD else _regression
            results.append(post(outputs, len(examples)))
        return results

    def _check_examples(self, examples: list[bytes]) -> None:
        if not examples:
            raise invalid("Input is empty: send at least one example")
        budget = RequestBudget(self.limits)
        budget.check_rows("the example list", len(examples))
        for i, data in enumerate(examples):
            image_guard.check_example_images(f"example {i}", data, budget)

    @staticmethod
    def _run_examples(servable: LoadedVersion, signature_name: str, examples: list[bytes]):
        return servable.execute(signature_name, {"inputs": np.array(examples, dtype=object)})


def _classification(outputs: dict, n: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    classes, scores = outputs.get("classes"), outputs.get("scores")
    if classes is None and scores is None:
        raise invalid("classification signature has neither 'classes' nor 'scores' output")
    for name, value in (("classes", classes), ("scores", scores)):
        if value is not None and (value.ndim != 2 or value.shape[0] != n):
            raise invalid(
                f"Expected {name} output of shape [batch, num_classes], got {value.shape}"
            )
    return classes, scores


def _regression(outputs: dict, n: int) -> np.ndarray:
    if "outputs" not in outputs:
        raise invalid("regression signature has no 'outputs' output")
    values = outputs["outputs"].reshape(n, -1)
    if values.shape[1] != 1:
        raise invalid(f"Expected one regression value per example, got shape {values.shape}")
    return values[:, 0]


def merge_examples(request_input, limits: RequestLimits | None = None) -> list[bytes]:
    """Serialized tf.Examples from a tensorflow.serving Input (with context merged in).

    The example count and the merged size (the context is copied into every example)
    are checked against `limits` before anything is merged.
    """
    budget = RequestBudget(limits or RequestLimits())
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples = request_input.example_list.examples
        budget.check_rows("the example list", len(examples))
        return [e.SerializeToString() for e in examples]
    if kind == "example_list_with_context":
        lst = request_input.example_list_with_context
        budget.check_rows("the example list", len(lst.examples))
        context_bytes = lst.context.ByteSize()
        for example in lst.examples:
            budget.add_bytes("examples with context", context_bytes + example.ByteSize())
        merged = []
        for example in lst.examples:
            full = tf.train.Example()
            full.CopyFrom(lst.context)
            full.MergeFrom(example)
            merged.append(full.SerializeToString())
        return merged
    raise invalid("Input must set example_list or example_list_with_context")
