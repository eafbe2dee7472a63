"""Helpers for the Kubeflow end-to-end tests: an S3 server on loopback (moto's,
started here) for the pipeline root, `vrl compile` in a subprocess, then every
task run as KFP's driver and launcher would run it (kfp_local), each in a
process forked from one warm interpreter per test (kubeflow.forkserver)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from kubeflow import kfp_local
from kubeflow.executor import TFX_ENTRYPOINT

IMAGE = "registry.example/vision-rl-pipeline@sha256:" + "0" * 64
BUCKETS = ("mlpipeline", "vrl")  # KFP's default bucket, and one for s3:// roots


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3-protocol server on 127.0.0.1 with the test buckets; yields its store."""
    moto_server = pytest.importorskip(
        "moto.server", reason="moto[s3] (a dev dependency) runs the S3 server these tests use"
    )
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    store = kfp_local.ObjectStore(f"http://{host}:{port}", "test-key", "test-secret")
    for bucket in BUCKETS:
        store.client.create_bucket(Bucket=bucket)
    yield store
    server.stop()


class KfpE2E:
    """Compiles a package into a folder and runs it task by task against the S3 server.

    One fork server per test runs `vrl compile` and then every task, so TFX and
    TensorFlow are imported once (the compile's imports are the tasks' too)."""

    image = IMAGE  # what every compiled task runs

    def __init__(self, tmp_path, store: kfp_local.ObjectStore) -> None:
        self.tmp_path = tmp_path
        self.store = store
        self.cache: dict = {}  # KFP's cache, kept across this pipeline's runs
        self.launcher: kfp_local.ForkServer | None = None

    def compile(self, *argv: str) -> str:
        """`vrl compile PIPELINE ARGV... --out PIPELINE.yaml --image IMAGE`."""
        name = argv[0]
        if self.launcher is None:
            modules = [TFX_ENTRYPOINT, "kubeflow.compile", f"pipeline.{name}_pipeline"]
            log = str(self.tmp_path / "forkserver.log")
            self.launcher = kfp_local.ForkServer(kfp_local.pod_env(), modules, log)
        out = str(self.tmp_path / f"{name}.yaml")
        cmd = ["python", "-m", "vrl.cli", "compile", *argv, "--out", out, "--image", self.image]
        log = str(self.tmp_path / f"compile-{name}.log")
        answer = self.launcher.run(cmd, kfp_local.pod_env(), log)
        with open(log) as f:
            assert answer["returncode"] == 0, f.read()[-3000:]
        spec, _ = kfp_local.load(out)
        assert spec["schemaVersion"] == "2.1.0"
        kinds = {k for e in spec["deploymentSpec"]["executors"].values() for k in e}
        assert kinds == {"container"}, kinds  # no resolver / importer executors
        return out

    def run(
        self, package: str, run_id: str, params: dict | None = None, pipeline_root=None
    ) -> dict:
        run = kfp_local.Run(
            run_id,
            str(self.tmp_path / "kfp"),
            self.store,
            pipeline_root=pipeline_root,
            env=kfp_local.pod_env(),
            cache=self.cache,
            launcher=self.launcher,
        )
        results = kfp_local.run_pipeline(package, run, params=params)
        failed = {n: r.log[-3000:] for n, r in results.items() if r.returncode}
        assert not failed, failed
        spec, _ = kfp_local.load(package)
        assert set(results) == set(spec["root"]["dag"]["tasks"])  # every task ran
        return results

    def close(self) -> None:
        if self.launcher is not None:
            self.launcher.close()

    @staticmethod
    def meta(results: dict, task: str, key: str) -> dict:
        return results[task].outputs[key][0]["metadata"]

    @staticmethod
    def executed(results: dict) -> set[str]:
        return {name for name, r in results.items() if not r.cached}


@pytest.fixture
def kfp_e2e(tmp_path, s3_server):
    e2e = KfpE2E(tmp_path, s3_server)
    yield e2e
    e2e.close()


class _Api(BaseHTTPRequestHandler):
    """Answers the v2beta1 calls kfp.Client makes, the way the KFP API server does."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _reply(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.server.requests.append(("GET", self.path, None))
        if self.path.startswith("/apis/v2beta1/healthz"):
            return self._reply({"multi_user": False})
        if self.path.startswith("/apis/v2beta1/experiments"):
            return self._reply({"experiments": [], "total_size": 0})
        if self.path.startswith("/apis/v2beta1/pipelines?"):
            wanted = parse_qs(urlparse(self.path).query).get("filter", ["{}"])[0]
            names = {p.get("stringValue") for p in json.loads(wanted).get("predicates", [])}
            found = [p for p in self.server.pipelines.values() if p["display_name"] in names]
            return self._reply({"pipelines": found, "total_size": len(found)})
        if self.path.startswith("/apis/v2beta1/recurringruns"):
            runs = list(self.server.recurring_runs.values())
            # kfp_server_api reads this one field camel-cased, as the API server writes it.
            return self._reply({"recurringRuns": runs, "total_size": len(runs)})
        self.send_error(404)

    def do_DELETE(self):
        self.server.requests.append(("DELETE", self.path, None))
        prefix = "/apis/v2beta1/recurringruns/"
        if self.path.startswith(prefix) and self.path[len(prefix) :] in self.server.recurring_runs:
            del self.server.recurring_runs[self.path[len(prefix) :]]
            return self._reply({})
        self.send_error(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        if self.path.startswith("/apis/v2beta1/pipelines/upload"):
            return self._upload(raw)
        body = json.loads(raw or b"{}")
        self.server.requests.append(("POST", self.path, body))
        if self.path == "/apis/v2beta1/experiments":
            return self._reply({"experiment_id": "exp-1", "display_name": body["display_name"]})
        if self.path == "/apis/v2beta1/runs":
            return self._reply({"run_id": "run-1", "display_name": body["display_name"]})
        if self.path == "/apis/v2beta1/recurringruns":
            run_id = f"rr-{len(self.server.recurring_runs) + len(self.server.requests)}"
            run = {"recurring_run_id": run_id, "display_name": body["display_name"]}
            self.server.recurring_runs[run_id] = run
            return self._reply(run)
        self.send_error(404)

    def _upload(self, raw: bytes) -> None:
        """pipelines/upload and pipelines/upload_version: the package as a multipart file."""
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.requests.append(("POST", url.path, {"query": query, "file": raw}))
        if url.path.endswith("/upload"):
            pipeline_id = f"p-{len(self.server.pipelines) + 1}"
            self.server.pipelines[pipeline_id] = {
                "pipeline_id": pipeline_id,
                "display_name": query["name"],
            }
            return self._reply(self.server.pipelines[pipeline_id])
        version_id = f"v-{len(self.server.requests)}"
        return self._reply(
            {
                "pipeline_id": query["pipelineid"],
                "pipeline_version_id": version_id,
                "display_name": query["name"],
            }
        )


@pytest.fixture
def kfp_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.requests = []
    server.recurring_runs = {}
    server.pipelines = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
