"""Clients for TF Serving's gRPC and REST APIs (the local server or real TF Serving)."""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from contracts import features
from contracts.warmup import observation_batch


class GrpcClient:
    """PredictionService + ModelService stubs with numpy in and out."""

    def __init__(self, target: str = "127.0.0.1:8500", timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._channel = grpc.insecure_channel(
            target, options=[("grpc.max_receive_message_length", -1)]
        )
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def __enter__(self) -> GrpcClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @staticmethod
    def _spec(
        spec, model: str, version: int | None, label: str | None, signature: str = ""
    ) -> None:
        spec.name = model
        if version is not None:
            spec.version.value = version
        if label:
            spec.version_label = label
        if signature:
            spec.signature_name = signature

    def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        signature_name: str = "serving_default",
        version: int | None = None,
        version_label: str | None = None,
        output_filter: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """Predict; inputs are arrays (or lists) keyed by the signature's input names."""
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, model, version, version_label, signature_name)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        request.output_filter.extend(output_filter)
        response = self.prediction.Predict(request, timeout=self.timeout)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def predict_images(
        self, model: str, images: Sequence[bytes], **kwargs: Any
    ) -> dict[str, np.ndarray]:
        """CNN serving_default on encoded image bytes."""
        return self.predict(
            model, {features.SERVING_INPUT_KEY: np.array(list(images), dtype=object)}, **kwargs
        )

    def act(self, model: str, observations: Any, **kwargs: Any) -> dict[str, np.ndarray]:
        """A policy's plain signature on observations (see `observation_batch`): vectors
        go as float32 [N, D], image frames as uint8 [N, H, W, C]."""
        return self.predict(
            model, {features.OBSERVATION_KEY: observation_batch(observations)}, **kwargs
        )

    def metadata(
        self, model: str, version: int | None = None
    ) -> get_model_metadata_pb2.SignatureDefMap:
        """GetModelMetadata; returns the unpacked SignatureDefMap."""
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        self._spec(request.model_spec, model, version, None)
        request.metadata_field.append("signature_def")
        response = self.prediction.GetModelMetadata(request, timeout=self.timeout)
        sdm = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sdm)
        return sdm

    def status(self, model: str, version: int | None = None) -> list:
        """GetModelStatus; returns ModelVersionStatus messages."""
        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model, version, None)
        return list(self.models.GetModelStatus(request, timeout=self.timeout).model_version_status)

    def reload(self, config) -> None:
        """HandleReloadConfigRequest with a ModelServerConfig."""
        request = model_management_pb2.ReloadConfigRequest()
        request.config.CopyFrom(config)
        self.models.HandleReloadConfigRequest(request, timeout=self.timeout)


class RestError(Exception):
    """A non-200 answer from the REST API."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class RestClient:
    """TF Serving REST API over one keep-alive connection (use one client per thread)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8501", timeout: float = 30.0) -> None:
        if "://" not in base_url:
            base_url = "http://" + base_url
        parsed = urllib.parse.urlsplit(base_url)
        self._host, self._port = parsed.hostname or "127.0.0.1", parsed.port or 8501
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        """Closes the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Sends one request; returns the decoded JSON (or text) or raises RestError."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout
                )
            try:
                headers = {"Content-Type": "application/json"} if data is not None else {}
                self._conn.request(method, path, body=data, headers=headers)
                response = self._conn.getresponse()
                payload = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # a stale keep-alive connection: retry once on a fresh one
                if attempt:
                    raise
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        text = payload.decode("utf-8")
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        decoded = json.loads(text) if is_json else text
        if response.status != 200:
            message = decoded.get("error", text) if isinstance(decoded, dict) else text
            raise RestError(response.status, message)
        return decoded

    @staticmethod
    def model_path(model: str, version: int | None = None, label: str | None = None) -> str:
        """/v1/models/<model>[/versions/<v>|/labels/<l>]."""
        path = f"/v1/models/{urllib.parse.quote(model, safe='')}"
        if version is not None:
            return f"{path}/versions/{version}"
        if label:
            return f"{path}/labels/{urllib.parse.quote(label, safe='')}"
        return path

    def status(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        """GET /v1/models/..."""
        return self.request("GET", self.model_path(model, version, label))

    def metadata(self, model: str, version: int | None = None) -> dict:
        """GET /v1/models/.../metadata."""
        return self.request("GET", self.model_path(model, version) + "/metadata")

    def predict(
        self,
        model: str,
        body: dict,
        version: int | None = None,
        label: str | None = None,
    ) -> dict:
        """POST :predict with a ready body ({"instances": ...} or {"inputs": ...})."""
        return self.request("POST", self.model_path(model, version, label) + ":predict", body)

    def predict_images(self, model: str, images: Sequence[bytes], **kwargs: Any) -> list[dict]:
        """Row-format predict on encoded images sent as {"b64": ...}; one dict per image."""
        instances = [{"b64": base64.b64encode(b).decode("ascii")} for b in images]
        return self.predict(model, {"instances": instances}, **kwargs)["predictions"]

    def act(
        self,
        model: str,
        observations: Any,
        signature_name: str | None = None,
        **kwargs: Any,
    ) -> list:
        """Row-format predict on a policy's plain signature, one prediction per observation
        (see `observation_batch`; image frames go as nested lists of 0-255 integers, which
        the server reads as the signature's uint8)."""
        body: dict[str, Any] = {"instances": observation_batch(observations).tolist()}
        if signature_name:
            body["signature_name"] = signature_name
        return self.predict(model, body, **kwargs)["predictions"]


def top_k(
    probabilities: np.ndarray, k: int, labels: Sequence[str] | None = None
) -> list[tuple[str, float]]:
    """The k most probable classes of one row, as (label, probability)."""
    order = np.argsort(-np.asarray(probabilities))[:k]
    return [
        (
            labels[i] if labels is not None and i < len(labels) else f"class_{i}",
            float(probabilities[i]),
        )
        for i in order
    ]
