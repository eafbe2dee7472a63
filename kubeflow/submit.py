"""Submits a compiled pipeline spec to Kubeflow Pipelines: one run, or a
recurring run (cron) for scheduled retraining."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Submission:
    """What was created on the cluster."""

    kind: str  # "run" or "recurring_run"
    id: str
    experiment: str


def submit(
    package_path: str,
    host: str,
    experiment: str = "vision-rl-pipeline",
    run_name: str | None = None,
    cron: str | None = None,
    namespace: str | None = None,
    max_concurrency: int = 1,
    client: Any = None,
) -> Submission:
    """Creates a run of `package_path`, or a recurring run when `cron` is given.

    Args:
      package_path: JSON written by `vrl compile` (kfp PipelineSpec).
      host: Kubeflow Pipelines API endpoint (e.g. http://localhost:8080 via a port-forward).
      cron: 6-field Kubeflow cron expression, e.g. "0 0 3 * * *" (daily 03:00).
      client: a `kfp.Client`-like object (tests pass a fake); default builds one for `host`.
    """
    if client is None:
        import kfp

        client = kfp.Client(host=host, namespace=namespace)
    name = run_name or experiment
    if cron is None:
        result = client.create_run_from_pipeline_package(
            package_path, run_name=name, experiment_name=experiment, namespace=namespace
        )
        return Submission("run", str(result.run_id), experiment)
    if len(cron.split()) != 6:
        raise ValueError(
            f"cron {cron!r}: Kubeflow expects 6 fields (seconds first), e.g. '0 0 3 * * *'"
        )
    experiment_id = client.create_experiment(experiment, namespace=namespace).experiment_id
    job = client.create_recurring_run(
        experiment_id=experiment_id,
        job_name=name,
        cron_expression=cron,
        max_concurrency=max_concurrency,
        no_catchup=True,
        pipeline_package_path=package_path,
    )
    return Submission("recurring_run", str(job.recurring_run_id), experiment)
