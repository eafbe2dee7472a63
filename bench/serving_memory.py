"""Peak server memory under the hostile-input review's worst requests, before and after the
decoded-cost caps.

Exports the pipeline's own convnet (models.cnn.model.build_model, 32 px, the default
filters) behind the same decode as its serving signature
(models.cnn.preprocessing.decode_to_pixels), starts `python -m vrl.serve serve` in a
subprocess per configuration, and sends, one per fresh server:

- gRPC: one Predict holding 16,384 8x8 PNGs (1.3 MB on the wire);
- REST: one body of 10,000 8x8 PNGs as {"b64": ...} instances;
- gRPC: one animated GIF, 40 frames of 2000x2000 (a few hundred KB).

The baseline configuration raises the new per-request image cap back to the row cap
(`--max-images 16384`), which is what the server accepted before. No flag brings
back accepting animated images, so the GIF's baseline is what the serving
signature's `tf.io.decode_image(..., expand_animations=False)` costs on it in a
fresh process (it decodes every frame, then keeps the first). Printed per case: status,
seconds, the server's peak resident memory (VmHWM) above its start-up peak, and the
ratio after / baseline.

  TF_USE_LEGACY_KERAS=1 python bench/serving_memory.py [--skip-baseline]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import tensorflow as tf
from PIL import Image
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from contracts import features
from models.cnn.model import build_model
from models.cnn.preprocessing import decode_to_pixels, to_unit_range

IMAGE_SIZE = 32
TINY_GRPC = 16_384
TINY_REST = 10_000


class _Cnn(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = build_model((IMAGE_SIZE, IMAGE_SIZE, 3), 3)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve(self, image_bytes):
        pixels = decode_to_pixels(image_bytes, IMAGE_SIZE)
        return {features.OUTPUT_PROBABILITIES: self.model(to_unit_range(pixels), training=False)}


def _export(base: str) -> None:
    module = _Cnn()
    tf.saved_model.save(module, os.path.join(base, "cnn", "1"), signatures=module.serve)


def _png(size: int = 8) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _animated_gif(frames: int = 40, side: int = 2000) -> bytes:
    images = [Image.new("P", (side, side), color=i % 256) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


class _Server:
    def __init__(self, base: str, extra: list[str]) -> None:
        self.grpc_port, self.rest_port = _free_port(), _free_port()
        argv = [sys.executable, "-m", "vrl.serve", "serve", "--model-base", base]
        argv += ["--grpc-port", str(self.grpc_port), "--rest-port", str(self.rest_port), *extra]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for line in self.proc.stdout:
            if line.startswith(b"serving "):
                break
        else:
            raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _grpc_images(port: int, images: list[bytes]) -> str:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "cnn"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(images, dtype=tf.string))
    with grpc.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)]
    ) as channel:
        try:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=600)
            return "OK"
        except grpc.RpcError as e:
            return e.code().name


def _rest_images(port: int, images: list[bytes]) -> str:
    body = json.dumps({"instances": [{"b64": base64.b64encode(i).decode()} for i in images]})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/models/cnn:predict", data=body.encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return str(response.status)
    except urllib.error.HTTPError as e:
        return str(e.code)


def _cases() -> dict:
    """Each case's payload, built before any timing."""
    tiny, gif = _png(), _animated_gif()
    return {
        f"gRPC, {TINY_GRPC} 8x8 PNGs": lambda s: _grpc_images(s.grpc_port, [tiny] * TINY_GRPC),
        f"REST, {TINY_REST} 8x8 PNGs": lambda s: _rest_images(s.rest_port, [tiny] * TINY_REST),
        GIF_CASE: lambda s: _grpc_images(s.grpc_port, [gif]),
    }


GIF_CASE = "gRPC, animated GIF 40 x 2000x2000"
_DECODE_GIF = (
    "import sys, tensorflow as tf; data = open(sys.argv[1], 'rb').read(); "
    "peak = lambda: int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM'))"
    ".split()[1]); before = peak(); "
    "tf.io.decode_image(data, channels=3, expand_animations=False); "
    "print((peak() - before) / 1024)"
)


def _decode_gif_cost() -> tuple[str, float, float]:
    """What serving cost before: the signature's decode_image on the GIF, in a fresh process
    (it decodes every frame, then keeps the first)."""
    with tempfile.NamedTemporaryFile(suffix=".gif") as f:
        f.write(_animated_gif())
        f.flush()
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", _DECODE_GIF, f.name], capture_output=True, text=True, check=True
        )
        seconds = time.perf_counter() - start
    return "decoded", seconds, float(out.stdout.split()[-1])


def _measure(base: str, extra: list[str], cases: dict) -> dict[str, tuple[str, float, float]]:
    results = {}
    for name, send in cases.items():
        server = _Server(base, extra)
        try:
            start_peak = _peak_mb(server.proc.pid)
            start = time.perf_counter()
            status = send(server)
            seconds = time.perf_counter() - start
            results[name] = (status, seconds, _peak_mb(server.proc.pid) - start_peak)
            print(f"{' '.join(extra) or 'default'}: {name}: {results[name]}", flush=True)
        finally:
            server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="serving_memory_")
    try:
        _export(base)
        cases = _cases()
        after = _measure(base, [], cases)
        baseline = {}
        if not args.skip_baseline:
            baseline = _measure(base, ["--max-images", "16384"], dict(list(cases.items())[:2]))
            baseline[GIF_CASE] = _decode_gif_cost()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'case':36} {'config':9} {'status':>18} {'seconds':>8} {'+peak MB':>9} {'ratio':>6}")
    for name in cases:
        rows = [("baseline", baseline.get(name)), ("after", after[name])]
        for config, row in rows:
            if row is None:
                continue
            status, seconds, peak = row
            ratio = ""
            if config == "after" and name in baseline and baseline[name][2] > 0:
                ratio = f"{peak / baseline[name][2]:.3f}"
            print(f"{name:36} {config:9} {status:>18} {seconds:8.2f} {peak:9.0f} {ratio:>6}")


if __name__ == "__main__":
    main()
