"""gRPC front end: tensorflow.serving PredictionService and ModelService servicers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
import numpy as np
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.core import ServingCore, merge_examples
from serving.errors import ServingError, invalid
from serving.limits import RequestBudget
from serving.model_config import specs_from_proto
from serving.servable import CLASSIFY_METHOD, DEFAULT_SIGNATURE, LoadedVersion
from serving.tensors import check_tensor_proto, fill_tensor_proto, from_tensor_proto

log = logging.getLogger(__name__)

_STATE = get_model_status_pb2.ModelVersionStatus.State


def to_ndarray(alias: str, proto) -> np.ndarray:
    """TensorProto -> numpy, with a clear error for malformed tensors."""
    try:
        return from_tensor_proto(proto)
    except (TypeError, ValueError) as e:
        raise invalid(f"input '{alias}': malformed TensorProto: {e}") from e


def _call(core: ServingCore, context, model: str, api: str | None, body: Callable[[dict], Any]):
    """Runs a handler, turning errors into gRPC statuses.

    Request count and latency are recorded for the APIs TF Serving records them for
    (Predict, Classify, Regress; `api` None: not recorded).
    """
    try:
        if api is None:
            return body({})
        with core.measure(model, api, "GRPC") as info:
            return body(info)
    except ServingError as e:
        context.abort(e.code, e.message)
    except Exception:  # noqa: BLE001 - the server must answer, never crash
        log.exception("%s on model %s failed", api, model)
        context.abort(grpc.StatusCode.INTERNAL, f"internal error serving model {model}")


def _resolve(core: ServingCore, spec, info: dict) -> LoadedVersion:
    version = spec.version.value if spec.HasField("version") else None
    servable = core.registry.resolve(spec.name, version, spec.version_label or None)
    info["version"] = str(servable.version)
    return servable


def _fill_spec(out_spec, servable: LoadedVersion, signature_name: str) -> None:
    out_spec.name = servable.name
    out_spec.version.value = servable.version
    out_spec.signature_name = signature_name


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress, MultiInference and GetModelMetadata."""

    def __init__(self, core: ServingCore) -> None:
        self.core = core

    def Predict(self, request, context):  # noqa: N802 - gRPC method name
        def body(info):
            servable = _resolve(self.core, request.model_spec, info)
            signature = request.model_spec.signature_name or DEFAULT_SIGNATURE
            budget = RequestBudget(self.core.limits)
            for alias, proto in request.inputs.items():
                check_tensor_proto(alias, proto, budget)
            inputs = {k: to_ndarray(k, v) for k, v in request.inputs.items()}
            outputs = self.core.predict(
                servable, signature, inputs, list(request.output_filter), budget, _deadline(context)
            )
            response = predict_pb2.PredictResponse()
            _fill_spec(response.model_spec, servable, signature)
            as_content = self.core.tensor_content
            for name, value in outputs.items():
                fill_tensor_proto(response.outputs[name], value, as_content)
            self.core.log_request("predict_log", servable, signature, (request, response))
            return response

        return _call(self.core, context, request.model_spec.name, "Predict", body)

    def GetModelMetadata(self, request, context):  # noqa: N802
        def body(info):
            if not request.metadata_field:
                raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
            for field in request.metadata_field:
                if field != "signature_def":
                    raise invalid(f"Metadata field {field} is not supported")
            servable = _resolve(self.core, request.model_spec, info)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            _fill_spec(response.model_spec, servable, "")
            response.metadata["signature_def"].Pack(signature_def_map(servable))
            return response

        return _call(self.core, context, request.model_spec.name, None, body)

    def Classify(self, request, context):  # noqa: N802
        def body(info):
            servable = _resolve(self.core, request.model_spec, info)
            signature = request.model_spec.signature_name or DEFAULT_SIGNATURE
            examples = merge_examples(request.input, self.core.limits)
            outputs = self.core.classify(servable, signature, examples, _deadline(context))
            response = classification_pb2.ClassificationResponse()
            _fill_spec(response.model_spec, servable, signature)
            fill_classifications(response.result, *outputs)
            self.core.log_request("classify_log", servable, signature, (request, response))
            return response

        return _call(self.core, context, request.model_spec.name, "Classify", body)

    def Regress(self, request, context):  # noqa: N802
        def body(info):
            servable = _resolve(self.core, request.model_spec, info)
            signature = request.model_spec.signature_name or DEFAULT_SIGNATURE
            examples = merge_examples(request.input, self.core.limits)
            values = self.core.regress(servable, signature, examples, _deadline(context))
            response = regression_pb2.RegressionResponse()
            _fill_spec(response.model_spec, servable, signature)
            fill_regressions(response.result, values)
            self.core.log_request("regress_log", servable, signature, (request, response))
            return response

        return _call(self.core, context, request.model_spec.name, "Regress", body)

    def MultiInference(self, request, context):  # noqa: N802
        tasks = request.tasks
        name = tasks[0].model_spec.name if tasks else ""

        def body(info):
            for task in tasks:
                if not task.model_spec.name:
                    raise invalid("Found ModelSpec with an empty model name.")
                if task.model_spec.name != name:
                    raise invalid(
                        "All ModelSpecs in a MultiInferenceRequest must access the same model name."
                    )
            if not tasks:
                raise invalid("MultiInferenceRequest must contain at least one task.")
            # TF Serving resolves the version of the first task's ModelSpec for all tasks.
            servable = _resolve(self.core, tasks[0].model_spec, info)
            examples = merge_examples(request.input, self.core.limits)
            results = self.core.multi_inference(
                servable, [(t.model_spec.signature_name, t.method_name) for t in tasks], examples
            )
            response = inference_pb2.MultiInferenceResponse()
            for task, outputs in zip(tasks, results, strict=True):
                result = response.results.add()
                _fill_spec(result.model_spec, servable, task.model_spec.signature_name)
                if task.method_name == CLASSIFY_METHOD:
                    fill_classifications(result.classification_result, *outputs)
                else:
                    fill_regressions(result.regression_result, outputs)
            # One record for all tasks; each task's signature is in the request and result.
            self.core.log_request("multi_inference_log", servable, "", (request, response))
            return response

        # TF Serving records no request count or latency for MultiInference.
        return _call(self.core, context, name, None, body)


def _deadline(context) -> float | None:
    """The client's gRPC deadline on the monotonic clock (None: it set none)."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


def fill_classifications(result, classes: np.ndarray | None, scores: np.ndarray | None) -> None:
    """A ClassificationResult: per example, (label, score) per class (either may be absent)."""
    present = classes if classes is not None else scores
    for i in range(present.shape[0]):
        out = result.classifications.add()
        for j in range(present.shape[1]):
            cls = out.classes.add()
            if classes is not None:
                cls.label = _text(classes[i, j])
            if scores is not None:
                cls.score = float(scores[i, j])


def fill_regressions(result, values: np.ndarray) -> None:
    """A RegressionResult: one value per example."""
    for value in values:
        result.regressions.add().value = float(value)


def examples_log_parts(
    api: str, servable: LoadedVersion, signature: str, examples: list[bytes], result
) -> Callable[[], tuple[Any, Any]]:
    """Builds, when called (on the request log's writer thread), the gRPC request and
    response of a REST classify/regress: what TF Serving logs for either front end.
    `result` is what ServingCore.classify or .regress returned."""

    def parts() -> tuple[Any, Any]:
        if api == "classify":
            request = classification_pb2.ClassificationRequest()
            response = classification_pb2.ClassificationResponse()
            fill_classifications(response.result, *result)
        else:
            request = regression_pb2.RegressionRequest()
            response = regression_pb2.RegressionResponse()
            fill_regressions(response.result, result)
        request.model_spec.name = servable.name
        request.model_spec.signature_name = signature
        for serialized in examples:
            request.input.example_list.examples.add().ParseFromString(serialized)
        _fill_spec(response.model_spec, servable, signature)
        return request, response

    return parts


ADMIN_RPC_DISABLED = (
    "HandleReloadConfigRequest is disabled on this server (vrl serve --disable-admin-rpc); "
    "change the served models through its model config file"
)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus and HandleReloadConfigRequest (refused when `admin_rpc` is False)."""

    def __init__(self, core: ServingCore, admin_rpc: bool = True) -> None:
        self.core = core
        self.admin_rpc = admin_rpc

    def GetModelStatus(self, request, context):  # noqa: N802
        def body(info):
            spec = request.model_spec
            version = spec.version.value if spec.HasField("version") else None
            if not request.HasField("model_spec"):
                raise invalid("Missing ModelSpec")
            return status_response(self.core.registry.status(spec.name, version))

        return _call(self.core, context, request.model_spec.name, None, body)

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        def body(info):
            if not self.admin_rpc:
                raise ServingError(grpc.StatusCode.PERMISSION_DENIED, ADMIN_RPC_DISABLED)
            if request.config.WhichOneof("config") != "model_config_list":
                raise invalid(
                    "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                    "Only ModelConfigList is currently supported"
                )
            try:
                specs = specs_from_proto(request.config)
                self.core.reload(specs)
            except (ValueError, OSError) as e:
                raise invalid(str(e)) from e
            response = model_management_pb2.ReloadConfigResponse()
            response.status.error_code = 0
            return response

        return _call(self.core, context, "", None, body)


def fill_status(out: get_model_status_pb2.ModelVersionStatus, status) -> None:
    """One ModelVersionStatus (a failed load reports UNKNOWN and its error)."""
    out.version = status.version
    out.state = _STATE.Value(status.state)
    out.status.error_code = 2 if status.error else 0  # UNKNOWN / OK
    out.status.error_message = status.error


def status_response(statuses) -> get_model_status_pb2.GetModelStatusResponse:
    """GetModelStatusResponse for registry statuses (gRPC and REST share it)."""
    response = get_model_status_pb2.GetModelStatusResponse()
    for status in statuses:
        fill_status(response.model_version_status.add(), status)
    return response


def signature_def_map(servable: LoadedVersion) -> get_model_metadata_pb2.SignatureDefMap:
    """All SignatureDefs of a version, as GetModelMetadata returns them."""
    sdm = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in servable.signature_defs.items():
        sdm.signature_def[key].CopyFrom(sig)
    return sdm


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
