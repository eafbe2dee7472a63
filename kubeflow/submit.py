"""Submits a compiled package to Kubeflow Pipelines through `kfp.Client`: one
run, or a recurring run for scheduled retraining.

Everything that can be checked locally is checked before the first request,
so an invalid package or parameter creates nothing on the server: the package
must parse as a PipelineSpec, every `--param` must name a pipeline parameter
(or a key of a JSON-object parameter such as `trainer_config`), and every
value must pass the check of the config field behind it, the same check
`vrl run` and `vrl compile` apply (pipeline/params.py, models/fields.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

from kubeflow.cluster import parse_duration
from kubeflow.compile import load_package
from kubeflow.objectstore import DEFAULT_PIPELINE_ROOT, check_pipeline_root
from kubeflow.submit_params import resolve_params
from kubeflow.upload import git_commit, stamped, upload_version, version_name, without_cache


@dataclasses.dataclass(frozen=True)
class Submission:
    """What was created on the cluster."""

    kind: str  # "run" or "recurring_run"
    id: str
    experiment: str
    replaced: tuple[str, ...] = ()
    """Recurring runs of the same name this one replaced (deleted after it was created)."""


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A recurring run's trigger; `None` fields mean a one-off run."""

    cron: str | None = None
    """6-field Kubeflow cron expression, seconds first: '0 0 3 * * *' is daily at 03:00."""
    interval_seconds: int | None = None
    """Run every N seconds instead of a cron expression."""
    max_concurrency: int = 1
    """Recurring runs allowed at once."""
    catchup: bool = True
    """Run the intervals missed while the schedule was paused (Kubeflow's default)."""

    @classmethod
    def from_flags(
        cls, cron: str | None, every: str | None, max_concurrency: int = 1, catchup: bool = True
    ) -> Schedule:
        """Parses `--cron` / `--every 24h`; raises ValueError naming the flag."""
        if cron is not None and len(cron.split()) != 6:
            raise ValueError(
                f"--cron {cron!r}: Kubeflow expects 6 fields (seconds first), e.g. '0 0 3 * * *'"
            )
        seconds = None
        if every is not None:
            seconds = parse_duration(every, "--every")
        if max_concurrency < 1:
            raise ValueError(f"--max-concurrency must be >= 1, got {max_concurrency}")
        return cls(cron, seconds, max_concurrency, catchup)

    @property
    def recurring(self) -> bool:
        return self.cron is not None or self.interval_seconds is not None


def parse_params(items: list[str]) -> dict[str, str]:
    """['epochs=5', 'data_root=gs://b/d'] -> {'epochs': '5', ...} (values typed later)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--param {item!r}: expected NAME=VALUE, e.g. epochs=5")
        out[name.strip()] = value
    return out


def submit(
    package_path: str,
    host: str,
    experiment: str = "vision-rl-pipeline",
    run_name: str | None = None,
    params: dict[str, str] | None = None,
    schedule: Schedule | None = None,
    namespace: str | None = None,
    pipeline_root: str | None = None,
    enable_caching: bool | None = None,
    service_account: str | None = None,
    upload: bool = False,
) -> Submission:
    """Creates a run of `package_path`, or a recurring run when `schedule` says so.

    Args:
      package_path: YAML written by `vrl compile` for the kfp target.
      host: Kubeflow Pipelines API endpoint (e.g. http://localhost:8080 via a port-forward).
      params: runtime parameters by name (strings; typed from the spec).
      schedule: cron or interval, concurrency, catch-up; None for one run.
      pipeline_root: the run's artifact root; default the package's. Always
        sent: the OSS backend never reads the spec's defaultPipelineRoot.
      enable_caching: False runs every task (kfp's override of every task's
        caching option); None keeps the compiled options. Never True, which
        would also cache the tasks compiled as never cached.
      service_account: Kubernetes ServiceAccount the run's pods use (default:
        the namespace's pipeline runner).
      upload: run from a new version of the pipeline on the server (named
        with the time and the git commit) instead of sending the package.
    """
    if not package_path.endswith((".yaml", ".yml")):
        raise ValueError(
            f"{package_path}: kfp.Client takes the YAML package `vrl compile --target kfp` writes"
        )
    spec, _ = load_package(package_path)
    arguments = resolve_params(spec, params or {})
    schedule = schedule or Schedule()
    pipeline_root = pipeline_root or spec.default_pipeline_root or DEFAULT_PIPELINE_ROOT
    check_pipeline_root(pipeline_root)
    if enable_caching:
        raise ValueError("enable_caching=True would cache the tasks compiled as never cached")
    name = run_name or default_run_name(spec.pipeline_info.name, schedule)
    # What kfp.Client takes alike for a run and a recurring run.
    common = {"pipeline_root": pipeline_root, "service_account": service_account}
    target = Target(spec.pipeline_info.name, experiment, name, namespace, upload)
    with tempfile.TemporaryDirectory() as tmp, reachable(host):
        if enable_caching is False:
            package_path = without_cache(package_path, tmp)
        return _create(package_path, host, target, arguments, schedule, common)


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a submission goes: pipeline, experiment, run name, namespace, upload or not."""

    pipeline: str
    experiment: str
    run_name: str
    namespace: str | None
    upload: bool


def default_run_name(pipeline: str, schedule: Schedule) -> str:
    """The pipeline name with the UTC time for a run; the pipeline name for a
    recurring run (KFP stamps each run it starts)."""
    return pipeline if schedule.recurring else stamped(pipeline)


@contextlib.contextmanager
def reachable(host: str) -> Iterator[None]:
    """Turns a host that cannot be reached into one ConnectionError line, with
    urllib3's retry warnings kept out of the terminal."""
    import urllib3

    quiet = logging.getLogger("urllib3.connectionpool")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # kfp.Client's FutureWarning: "only works with Kubeflow Pipeline v2.0.0-beta.2 and later"
            warnings.filterwarnings("ignore", category=FutureWarning, module="kfp")
            yield
    except urllib3.exceptions.HTTPError as e:
        # "<HTTPConnection object at 0x..>: Failed to establish ... refused" -> the reason
        reason = str(getattr(e, "reason", None) or e).split(">: ", 1)[-1]
        raise ConnectionError(
            f"cannot reach Kubeflow Pipelines at {host} ({reason}); "
            "is the port-forward or ingress up? (see docs/kubeflow.md)"
        ) from None
    finally:
        quiet.setLevel(level)


def _create(package_path, host, target, arguments, schedule, common) -> Submission:
    import kfp

    client = kfp.Client(host=host, namespace=target.namespace)
    source: dict = {"pipeline_package_path": package_path}
    if target.upload:
        version = version_name(target.pipeline, git_commit())
        source = upload_version(client, package_path, target.pipeline, version)
    experiment = client.create_experiment(target.experiment, namespace=target.namespace)
    experiment_id, name = experiment.experiment_id, target.run_name
    if not schedule.recurring:
        result = client.run_pipeline(
            experiment_id=experiment_id, job_name=name, params=arguments, **source, **common
        )
        return Submission("run", str(result.run_id), target.experiment)
    previous = same_name_recurring_runs(client, experiment_id, name)
    job = client.create_recurring_run(
        experiment_id=experiment_id,
        job_name=name,
        cron_expression=schedule.cron,
        interval_second=schedule.interval_seconds,
        max_concurrency=schedule.max_concurrency,
        no_catchup=not schedule.catchup,
        params=arguments,
        **source,
        **common,
    )
    # KFP has no update for a recurring run: the new one replaces the old, and
    # the old is deleted only once the new exists, so a schedule is never lost.
    for old in previous:
        client.delete_recurring_run(old)
    return Submission(
        "recurring_run", str(job.recurring_run_id), target.experiment, tuple(previous)
    )


def same_name_recurring_runs(client: Any, experiment_id: str, name: str) -> list[str]:
    """IDs of the experiment's recurring runs named `name` (an earlier submit of this schedule)."""
    name_filter = {
        "predicates": [{"key": "display_name", "operation": "EQUALS", "string_value": name}]
    }
    found = client.list_recurring_runs(
        experiment_id=experiment_id, page_size=100, filter=json.dumps(name_filter)
    )
    return [r.recurring_run_id for r in found.recurring_runs or [] if r.display_name == name]
