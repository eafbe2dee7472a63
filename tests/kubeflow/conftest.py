"""Helpers for the Kubeflow end-to-end tests: compile with `vrl compile` in a
subprocess, then run every task as KFP's driver and launcher would (kfp_local)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kubeflow import kfp_local

IMAGE = "registry.example/vision-rl-pipeline@sha256:0123"


class KfpE2E:
    """Compiles a package into a test's tmp folder and runs it task by task."""

    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path

    def compile(self, *argv: str) -> str:
        out = str(self.tmp_path / f"{argv[0]}.yaml")
        cmd = [sys.executable, "-m", "vrl.cli", "compile", *argv, "--out", out, "--image", IMAGE]
        subprocess.run(cmd, check=True, env=kfp_local.pod_env(), capture_output=True, text=True)
        spec, _ = kfp_local.load(out)
        assert spec["schemaVersion"] == "2.1.0"
        kinds = {k for e in spec["deploymentSpec"]["executors"].values() for k in e}
        assert kinds == {"container"}, kinds  # no resolver / importer executors
        return out

    def run(self, package: str, run_id: str, params: dict | None = None) -> dict:
        results = kfp_local.run_pipeline(
            package, run_id, str(self.tmp_path / "kfp"), params=params, env=kfp_local.pod_env()
        )
        failed = {n: r.log[-3000:] for n, r in results.items() if r.returncode}
        assert not failed, failed
        spec, _ = kfp_local.load(package)
        assert set(results) == set(spec["root"]["dag"]["tasks"])  # every task ran
        return results

    @staticmethod
    def meta(results: dict, task: str, key: str) -> dict:
        return results[task].outputs[key][0]["metadata"]


@pytest.fixture
def kfp_e2e(tmp_path) -> KfpE2E:
    return KfpE2E(tmp_path)
