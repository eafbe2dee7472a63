"""One loaded model version: its SignatureDefs, input checks and execution."""

from __future__ import annotations

import importlib
import os
import re
from typing import Any

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from contracts.serving_base import SERVE_TAGS
from serving.errors import ServingError, failed_precondition, invalid
from serving.signature_call import make_caller

DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
INIT_OP_SIGNATURE = "__saved_model_init_op"


def read_signature_defs(
    path: str, tags: tuple[str, ...] = SERVE_TAGS
) -> dict[str, meta_graph_pb2.SignatureDef]:
    """SignatureDefs of the meta graph tagged exactly `tags` in the SavedModel at `path`."""
    saved = saved_model_pb2.SavedModel()
    pb = os.path.join(path, "saved_model.pb")
    if os.path.isfile(pb):
        with open(pb, "rb") as f:
            saved.ParseFromString(f.read())
    else:
        with open(os.path.join(path, "saved_model.pbtxt"), encoding="utf-8") as f:
            text_format.Parse(f.read(), saved)
    for meta_graph in saved.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return dict(meta_graph.signature_def)
    found = [sorted(m.meta_info_def.tags) for m in saved.meta_graphs]
    raise ValueError(
        f"{path}: SavedModel has no meta graph tagged {sorted(tags)} (--saved_model_tags); "
        f"it has {found}"
    )


# Libraries whose import registers TypeSpecs that SavedModels may reference (a TF-Agents
# PolicySaver export stores tfp distribution specs in its function signatures).
_TYPE_SPEC_MODULES = ("tensorflow_probability",)


def _load(path: str, tags: tuple[str, ...]):
    """tf.saved_model.load, importing TypeSpec-registering libraries on demand."""
    try:
        return tf.saved_model.load(path, tags=list(tags))
    except ValueError as e:
        if "has not been registered" not in str(e):
            raise
        for module in _TYPE_SPEC_MODULES:
            importlib.import_module(module)
        return tf.saved_model.load(path, tags=list(tags))


def _dims(info: meta_graph_pb2.TensorInfo) -> list[int] | None:
    if info.tensor_shape.unknown_rank:
        return None
    return [d.size for d in info.tensor_shape.dim]


def _dtype(info: meta_graph_pb2.TensorInfo) -> tf.dtypes.DType:
    return tf.dtypes.as_dtype(info.dtype)


class LoadedVersion:
    """A SavedModel version loaded with `tf.saved_model.load`, ready to serve."""

    def __init__(
        self, name: str, version: int, path: str, tags: tuple[str, ...] = SERVE_TAGS
    ) -> None:
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = read_signature_defs(path, tags)
        self._module = _load(path, tags)
        self._functions = dict(self._module.signatures)
        self._callers = {
            key: make_caller(fn, list(self.signature_defs[key].inputs))
            for key, fn in self._functions.items()
            if key in self.signature_defs
        }

    def signature(self, signature_name: str) -> meta_graph_pb2.SignatureDef:
        """The SignatureDef called `signature_name` ("" means serving_default)."""
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self._functions or key not in self.signature_defs:
            known = sorted(k for k in self._functions if k != INIT_OP_SIGNATURE)
            raise failed_precondition(
                f'Serving signature key "{key}" not found in model {self.name} version '
                f"{self.version}; available signatures: {known}"
            )
        return self.signature_defs[key]

    def input_dtype(self, signature_name: str, alias: str) -> tf.dtypes.DType | None:
        """Declared dtype of an input, or None if the signature has no such input."""
        info = self.signature(signature_name).inputs.get(alias)
        return None if info is None else _dtype(info)

    def prepare(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Checks request inputs against the signature: names, dtypes, shapes, batch."""
        sig = self.signature(signature_name)
        expected = sorted(sig.inputs)
        for alias in inputs:
            if alias not in sig.inputs:
                raise invalid(
                    f"input tensor alias not found in signature: {alias}. "
                    f"Inputs expected to be in the set {{{', '.join(expected)}}}."
                )
        missing = sorted(set(expected) - set(inputs))
        if missing:
            raise invalid(
                f"Request inputs do not match required inputs for signature "
                f"'{signature_name or DEFAULT_SIGNATURE}': missing {missing}, expected {expected}."
            )
        prepared = {}
        for alias, value in inputs.items():
            info = sig.inputs[alias]
            want = _dtype(info)
            got = tf.dtypes.as_dtype(value.dtype) if value.dtype != object else tf.string
            if got != want:
                raise invalid(f"Expects arg[{alias}] to be {want.name} but {got.name} is provided")
            dims = _dims(info)
            if dims is not None:
                shape_ok = len(dims) == value.ndim and all(
                    d < 0 or d == s for d, s in zip(dims, value.shape, strict=False)
                )
                if not shape_ok:
                    raise invalid(
                        f"input '{alias}' has shape {list(value.shape)}, expected "
                        f"{['?' if d < 0 else d for d in dims]} (? = any size)"
                    )
                if dims and dims[0] < 0 and value.shape[0] == 0:
                    raise invalid(f"input '{alias}' is an empty batch; send at least one row")
            prepared[alias] = value
        return prepared

    def execute(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs a signature on prepared inputs; returns every output as numpy."""
        key = signature_name or DEFAULT_SIGNATURE
        sig = self.signature(key)
        tensors = {k: tf.constant(v, dtype=_dtype(sig.inputs[k])) for k, v in inputs.items()}
        try:
            outputs = self._callers[key](tensors)
            if not isinstance(outputs, dict):  # the fast call did not pack outputs: stop using it
                fn = self._functions[key]
                self._callers[key] = lambda t: fn(**t)
                outputs = fn(**tensors)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as e:
            raise invalid(clean_tf_message(e.message)) from e
        except tf.errors.OpError as e:
            raise ServingError(_grpc_code(e), clean_tf_message(e.message)) from e
        return {k: v.numpy() for k, v in outputs.items()}

    def run(
        self,
        signature_name: str,
        inputs: dict[str, np.ndarray],
        output_filter: list[str] | tuple[str, ...] = (),
    ) -> dict[str, np.ndarray]:
        """prepare + execute + output filter."""
        check_output_filter(self.signature(signature_name), output_filter)
        outputs = self.execute(signature_name, self.prepare(signature_name, inputs))
        return filter_outputs(outputs, output_filter)

    def examples_signature(
        self, signature_name: str, method: str, check_method_name: bool = False
    ) -> meta_graph_pb2.SignatureDef:
        """A Classify/Regress signature, checked as TF Serving's classifier.cc / regressor.cc.

        The method name is only checked with `check_method_name`
        (--enable_signature_method_name_check); otherwise any signature with one input
        `inputs` and the right outputs qualifies, as native TF2 signatures do.
        """
        key = signature_name or DEFAULT_SIGNATURE
        sig = self.signature_defs.get(key)
        if sig is None or key not in self._functions:
            raise invalid(f"No signature was found with the name: {key}")
        kind = "classification" if method == CLASSIFY_METHOD else "regression"
        if check_method_name and sig.method_name != method:
            raise invalid(
                f"Expected {kind} signature method_name to be {method}. Was: {sig.method_name}"
            )
        if len(sig.inputs) != 1:
            raise invalid("Expected one input Tensor.")
        if method == CLASSIFY_METHOD:
            if len(sig.outputs) not in (1, 2):
                raise invalid(f"Expected one or two output Tensors, found {len(sig.outputs)}")
        elif len(sig.outputs) != 1:
            raise invalid("Expected one output Tensor.")
        if "inputs" not in sig.inputs:
            raise invalid(f"No {kind} inputs found in SignatureDef {key}: expected input 'inputs'")
        if method == CLASSIFY_METHOD and not {"classes", "scores"} & set(sig.outputs):
            raise invalid(
                'Expected classification signature outputs to contain at least one of "classes" '
                f'or "scores". Signature {key} has {sorted(sig.outputs)}'
            )
        if method == REGRESS_METHOD and "outputs" not in sig.outputs:
            raise invalid(f"No regression outputs found in SignatureDef {key}: expected 'outputs'")
        return sig


def check_output_filter(sig: meta_graph_pb2.SignatureDef, output_filter: Any) -> None:
    """Every filtered name must be an output of the signature."""
    for name in output_filter:
        if name not in sig.outputs:
            raise invalid(
                f"output tensor alias not found in signature: {name}. Outputs expected to "
                f"be in the set {{{', '.join(sorted(sig.outputs))}}}."
            )


def filter_outputs(outputs: dict[str, np.ndarray], output_filter: Any) -> dict[str, np.ndarray]:
    """Keeps only the filtered outputs (all when the filter is empty)."""
    if not output_filter:
        return outputs
    return {k: outputs[k] for k in output_filter}


def clean_tf_message(message: str) -> str:
    """A TensorFlow op error without Python stack frames and file paths.

    Eager errors carry "Detected at node ... defined at (most recent call last):"
    followed by indented `File "...", line N` frames; clients get the rest, as TF
    Serving's C++ runtime reports it (the message and the failing node).
    """
    kept = []
    for line in message.splitlines():
        if line.startswith(" ") or line.startswith("Detected at node"):
            continue
        if line.strip() in ("Graph execution error:", ""):
            continue
        kept.append(line.strip())
    text = " ".join(kept).replace("<stack traces unavailable>", "").strip()
    text = re.sub(r"\s*\[Op:[^\]]*\]", "", text)
    return text or "model execution failed"


def _grpc_code(error: tf.errors.OpError):
    """gRPC status code with the same number as TensorFlow's error code."""
    import grpc

    by_number = {code.value[0]: code for code in grpc.StatusCode}
    return by_number.get(error.error_code, grpc.StatusCode.INTERNAL)
