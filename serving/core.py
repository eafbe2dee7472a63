"""What both front ends (gRPC, REST) call: lookups, predict, classify, regress."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from contracts import features
from serving import image_guard
from serving.batching import Batcher, BatchingOptions
from serving.errors import ServingError, invalid
from serving.limits import RequestBudget, RequestLimits
from serving.metrics import Metrics
from serving.registry import ModelRegistry
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
    ) -> None:
        self.registry = registry
        self.limits = limits or RequestLimits()
        """Caps on one request, checked before allocation (serving/limits.py)."""
        self.metrics = metrics or Metrics()
        self.batcher = Batcher(batching, self.metrics.record_batched_run) if batching else None
        self.method_name_check = method_name_check
        """--enable_signature_method_name_check: Classify/Regress need the method name."""
        self.tensor_content = tensor_content
        """--enable_serialization_as_tensor_content: gRPC outputs packed in tensor_content."""

    def stop(self) -> None:
        """Stops the watcher and the batcher."""
        self.registry.stop()
        if self.batcher is not None:
            self.batcher.stop()

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
    ) -> dict[str, np.ndarray]:
        """Checks and runs one Predict on a resolved version.

        `budget` holds what the front end already counted while converting the inputs
        (their declared sizes); encoded images are added to it here, from their headers.
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
        if self.batcher is not None:
            outputs = self.batcher.execute(servable, signature_name, prepared)
        else:
            outputs = servable.execute(signature_name, prepared)
        return filter_outputs(outputs, output_filter)

    def classify(
        self, servable: LoadedVersion, signature_name: str, examples: list[bytes]
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Runs a classify signature; returns (classes [N,K] or None, scores [N,K] or None)."""
        sig = servable.examples_signature(signature_name, CLASSIFY_METHOD, self.method_name_check)
        outputs = self._run_examples(servable, signature_name, sig, examples)
        classes, scores = outputs.get("classes"), outputs.get("scores")
        if classes is None and scores is None:
            raise invalid("classification signature has neither 'classes' nor 'scores' output")
        for name, value in (("classes", classes), ("scores", scores)):
            if value is not None and (value.ndim != 2 or value.shape[0] != len(examples)):
                raise invalid(
                    f"Expected {name} output of shape [batch, num_classes], got {value.shape}"
                )
        return classes, scores

    def regress(
        self, servable: LoadedVersion, signature_name: str, examples: list[bytes]
    ) -> np.ndarray:
        """Runs a regress signature; returns one float per example."""
        sig = servable.examples_signature(signature_name, REGRESS_METHOD, self.method_name_check)
        outputs = self._run_examples(servable, signature_name, sig, examples)
        if "outputs" not in outputs:
            raise invalid("regression signature has no 'outputs' output")
        values = outputs["outputs"].reshape(len(examples), -1)
        if values.shape[1] != 1:
            raise invalid(f"Expected one regression value per example, got shape {values.shape}")
        return values[:, 0]

    def _run_examples(self, servable, signature_name, sig, examples: list[bytes]):
        if not examples:
            raise invalid("Input is empty: send at least one example")
        budget = RequestBudget(self.limits)
        budget.check_rows("the example list", len(examples))
        for i, data in enumerate(examples):
            image_guard.check_example_images(f"example {i}", data, budget)
        if set(sig.inputs) != {"inputs"}:
            raise invalid(f"Expected one input named 'inputs', signature has {sorted(sig.inputs)}")
        return servable.execute(signature_name, {"inputs": np.array(examples, dtype=object)})


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
