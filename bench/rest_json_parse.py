"""REST JSON bodies of floats: the server's checked conversion vs a plain array conversion.

Builds a `{"instances": [image, ...]}` body of about --mib MiB, each instance a
224x224x3 float image (nested lists), then times, in this process and on the same parsed document:

  plain      np.array(instances, dtype=float32), no checks (the floor)
  checked    serving.json_tensor.json_to_array: depth, leaf types, rectangular rows,
             element caps (numpy's conversion as the check, the leaf walk on failure)
  leaf walk  the per-leaf Python check every body went through before (still the
             path for bodies that fail, for their error message)

(with json.loads of the body for scale), and the whole REST round trip of that body against `vrl serve`'s handler next to an
in-process call of the same signature. Prints medians and ratios (x plain / x in-process).

  TF_USE_LEGACY_KERAS=1 python bench/rest_json_parse.py [--mib 2.9] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request

import numpy as np
import tensorflow as tf

from serving import json_tensor
from serving.limits import RequestBudget, RequestLimits
from serving.options import ServerOptions
from serving.server import start_server

SHAPE = (224, 224, 3)


class Model(tf.Module):
    """images [None, 224, 224, 3] float32 -> per-channel means."""

    @tf.function(input_signature=[tf.TensorSpec([None, *SHAPE], tf.float32, name="images")])
    def serve(self, images):
        return {"means": tf.reduce_mean(images, axis=[1, 2])}


def body_of(mib: float) -> tuple[bytes, int]:
    """A JSON body of random float images of about `mib` MiB; returns (body, images)."""
    rng = np.random.default_rng(0)
    rows = 1
    while True:
        data = rng.uniform(size=(rows, *SHAPE)).astype(np.float32).tolist()
        body = json.dumps({"instances": data}).encode()
        if len(body) >= mib * 2**20:
            return body, rows
        rows += 1


def median_s(fn, repeats: int) -> float:
    """Median wall seconds of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=2.9, help="body size in MiB")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure")
    args = parser.parse_args()
    body, rows = body_of(args.mib)
    instances = json.loads(body)["instances"]
    limits = RequestLimits(max_rest_body_bytes=len(body) + 1)

    def checked():
        json_tensor.json_to_array("images", instances, tf.float32, RequestBudget(limits))

    def leaf_walk():
        data, _ = json_tensor.leaves("images", instances, False, max_depth=32)
        np.array(data, dtype=np.float32)

    plain = median_s(lambda: np.array(instances, dtype=np.float32), args.repeats)
    figures = {"json.loads": median_s(lambda: json.loads(body), args.repeats)}
    figures["checked"] = median_s(checked, args.repeats)
    figures["leaf walk"] = median_s(leaf_walk, args.repeats)
    print(f"{len(body) / 2**20:.2f} MiB body, {rows} images of {SHAPE} floats; load average "
          f"{os.getloadavg()[0]:.1f}; medians of {args.repeats}")  # fmt: skip
    print(f"  plain      {plain * 1e3:8.1f} ms   1.00 x plain")
    for name, seconds in figures.items():
        print(f"  {name:<10} {seconds * 1e3:8.1f} ms {seconds / plain:6.2f} x plain")

    with tempfile.TemporaryDirectory() as root:
        module = Model()
        tf.saved_model.save(
            module, os.path.join(root, "model", "1"), signatures={"serving_default": module.serve}
        )
        handle = start_server(
            ServerOptions(model_base=root, grpc_port=None, rest_port=0, limits=limits)
        )
        try:
            handle.wait_until_available("model")
            fn = tf.saved_model.load(os.path.join(root, "model", "1")).signatures["serving_default"]
            array = np.array(instances, dtype=np.float32)
            in_process = median_s(lambda: fn(images=tf.constant(array)), args.repeats)
            url = f"http://127.0.0.1:{handle.rest_port}/v1/models/model:predict"

            def post():
                with urllib.request.urlopen(
                    urllib.request.Request(url, data=body), timeout=600
                ) as r:
                    r.read()

            rest = median_s(post, args.repeats)
        finally:
            handle.stop()
    print(f"  in-process call {in_process * 1e3:8.1f} ms; REST round trip {rest * 1e3:8.1f} ms "
          f"({rest / in_process:.1f} x in-process)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
