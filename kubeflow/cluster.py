"""Where and how the compiled pipeline runs: target, image, volumes, resources."""

from __future__ import annotations

import dataclasses
import math
import re
import warnings

from kubeflow.executor import BASE_MEMORY_BYTES, WORKER_MEMORY_BYTES

TARGETS = ("kfp", "vertex")
TRAINER_TASKS = ("Trainer", "DqnTrainer")
HEAVY_TASKS = ("ImageExampleGen", "StatisticsGen", "Transform", "Evaluator", "PolicyEvaluator")
_DURATION = re.compile(r"(\d+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# An OCI content digest, as registries and `docker inspect` print it.
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)([GM]i?)")
# Gigabytes (10^9 bytes, as Kubeflow's spec counts memory) per unit.
_UNIT_GB = {"G": 1.0, "Gi": 2**30 / 1e9, "M": 1e-3, "Mi": 2**20 / 1e9}
DEFAULT_BEAM_MEMORY = "4G"  # the data and evaluation tasks' least memory by default
GPU_RESOURCE = "nvidia.com/gpu"
# GKE's node label for the accelerator type; other clusters label GPU nodes their own way.
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"


class MutableImageWarning(UserWarning):
    """The image is referenced by tag: a re-pushed tag changes what runs."""


def parse_memory_gb(text: str) -> float:
    """'8G', '8Gi', '512M', '512Mi' -> gigabytes (10^9 bytes) as Kubeflow's spec counts them."""
    m = _MEMORY.fullmatch(text.strip())
    if not m:
        raise ValueError(f"memory {text!r}: expected a size like 8G, 8Gi or 512M")
    return round(float(m.group(1)) * _UNIT_GB[m.group(2)], 6)


def parse_duration(text: str, flag: str) -> int:
    """'30m', '24h', '7d' -> seconds (> 0); raises ValueError naming `flag`."""
    m = _DURATION.fullmatch(text.strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{flag} {text!r}: expected a duration like 30m, 24h or 7d")
    return int(m.group(1)) * _SECONDS[m.group(2)]


def parse_gpu(text: str) -> tuple[str, int]:
    """'nvidia.com/gpu:1' or 'nvidia-tesla-t4:1' -> (name, count).

    A name with a '/' is a Kubernetes resource name; one without is a GPU
    type (GKE's accelerator names), requested as nvidia.com/gpu on a node
    whose accelerator label has that value.
    """
    kind, _, count = text.rpartition(":")
    if not kind or not count.isdigit() or int(count) < 1:
        raise ValueError(
            f"--gpu {text!r}: expected RESOURCE:COUNT or TYPE:COUNT, "
            "e.g. nvidia.com/gpu:1 or nvidia-tesla-t4:1"
        )
    return kind, int(count)


def parse_label(text: str, flag: str) -> tuple[str, str]:
    """'cloud.google.com/gke-accelerator=nvidia-tesla-t4' -> (key, value)."""
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"([a-z0-9.-]+/)?[A-Za-z0-9][-A-Za-z0-9_.]*", key):
        raise ValueError(
            f"{flag} {text!r}: expected KEY=VALUE, e.g. {GKE_ACCELERATOR_LABEL}=nvidia-tesla-t4"
        )
    return key, value


def parse_pvc(text: str) -> tuple[str, str]:
    """'vrl-model-base:/models' -> ('vrl-model-base', '/models')."""
    claim, _, path = text.partition(":")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", claim) or not path.startswith("/"):
        raise ValueError(
            f"--pvc {text!r}: expected CLAIM:/mount/path with a Kubernetes claim name, "
            "e.g. vrl-model-base:/models"
        )
    return claim, path


def check_image(image: str) -> None:
    """Refuses an image a cluster cannot pull or a malformed digest; warns when it
    is not pinned by digest. A name without a registry host is on Docker Hub
    (`account/name`), as Docker reads it; a bare `name` would be one of Docker
    Hub's official images, so it is refused as an image that was never pushed."""
    name, at, digest = image.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise ValueError(
            f"--image {image!r}: {digest!r} is not an image digest; expected sha256: "
            "and 64 hex digits, as `docker inspect --format '{{index .RepoDigests 0}}'` prints"
        )
    if "/" not in name:
        raise ValueError(
            f"--image {image!r} names no registry host or Docker Hub account, so a cluster "
            "cannot pull it; push it and pass REGISTRY/vision-rl-pipeline@sha256:... "
            "(e.g. us-docker.pkg.dev/PROJECT/REPO/vision-rl-pipeline@sha256:... or "
            "ACCOUNT/vision-rl-pipeline@sha256:... on Docker Hub)"
        )
    if not at:
        warnings.warn(
            f"--image {image!r} is a tag: a re-pushed tag silently changes what scheduled "
            "runs execute; prefer the digest (IMAGE@sha256:...)",
            MutableImageWarning,
            stacklevel=2,
        )


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """How the compiled pipeline runs on the cluster (defaults in one place)."""

    image: str
    """Container image with the project installed, pullable by the cluster (REGISTRY/NAME@sha256:...)."""
    target: str = "kfp"
    """'kfp' (open-source Kubeflow Pipelines v2) or 'vertex' (Vertex AI Pipelines)."""
    pvc_mounts: tuple[tuple[str, str], ...] = ()
    """(claim, mount path) pairs mounted into every task, e.g. the serving base's volume."""
    gpu: tuple[str, int] | None = None
    """Accelerator (Kubernetes resource name or GPU type, count) requested by Trainer and DqnTrainer."""
    gpu_node_selector: tuple[tuple[str, str], ...] = ()
    """Node labels the trainers' pods require (default for a GPU type: GKE's accelerator label)."""
    gpu_node_label: str = GKE_ACCELERATOR_LABEL
    """Node label that carries the GPU type when --gpu names a type rather than a resource."""
    gpu_toleration: str = GPU_RESOURCE
    """Taint key the trainers tolerate (Exists, NoSchedule) on GPU nodes; '' for none."""
    cpu: float = 1.0
    """CPU request of the data and evaluation tasks."""
    memory: str = ""
    """Memory request (and limit) of the data and evaluation tasks; empty: enough for
    one Beam worker per requested CPU (1 GiB + 0.5 GiB a worker), at least 4G."""
    trainer_cpu: float = 2.0
    """CPU request of Trainer and DqnTrainer."""
    trainer_memory: str = "8G"
    """Memory request (and limit) of Trainer and DqnTrainer."""
    light_cpu: float = 0.5
    """CPU request of the light tasks (schema, checks, baseline, push)."""
    light_memory: str = "2G"
    """Memory request (and limit) of the light tasks."""
    timeout_seconds: int = 0
    """Longest a task's pod may run before Kubernetes stops it (activeDeadlineSeconds); 0: none."""
    retries: int = 0
    """Times KFP retries a failed task (a pod lost with a preempted node), as kfp's set_retry."""

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"--target must be one of {TARGETS}, got {self.target!r}")
        if self.target == "vertex" and self.pvc_mounts:
            raise ValueError("--pvc is for open-source Kubeflow; Vertex AI reads gs:// paths")
        if self.target == "vertex" and self.gpu and "/" in self.gpu[0]:
            raise ValueError(
                f"--gpu {self.gpu[0]}: Vertex AI takes a GPU type, e.g. nvidia-tesla-t4:1"
            )
        for cpu in (self.cpu, self.trainer_cpu, self.light_cpu):
            if cpu <= 0:
                raise ValueError(f"CPU requests must be > 0, got {cpu}")
        if self.timeout_seconds < 0:
            raise ValueError(f"--timeout must be > 0, got {self.timeout_seconds} s")
        if not 0 <= self.retries <= 100:
            raise ValueError(f"--retries must be in [0, 100], got {self.retries}")
        for memory in (self.memory, self.trainer_memory, self.light_memory):
            if memory:
                parse_memory_gb(memory)
        check_image(self.image)

    def check_output_file(self, path: str) -> None:
        """kfp.Client reads YAML packages; Vertex takes the PipelineJob JSON."""
        want = (".yaml", ".yml") if self.target == "kfp" else (".json",)
        if not path.endswith(want):
            raise ValueError(
                f"--out {path!r}: a {self.target} package must end with {' or '.join(want)}"
            )


def gpu_resource(cluster: ClusterConfig) -> str:
    """The accelerator `type` in the spec: a Kubernetes resource name for kfp
    (what kfp's set_accelerator_type writes), Vertex's enum for vertex."""
    kind = cluster.gpu[0] if cluster.gpu else ""
    if cluster.target == "vertex":
        return kind.upper().replace("-", "_")  # nvidia-tesla-t4 -> NVIDIA_TESLA_T4
    return kind if "/" in kind else GPU_RESOURCE


def gpu_scheduling(cluster: ClusterConfig) -> dict:
    """The trainers' kfp-kubernetes settings: nodeSelector and tolerations."""
    if not cluster.gpu or cluster.target != "kfp":
        return {}
    labels = dict(cluster.gpu_node_selector)
    if "/" not in cluster.gpu[0] and not labels:
        labels[cluster.gpu_node_label] = cluster.gpu[0]
    out: dict = {"nodeSelector": {"labels": labels}} if labels else {}
    if cluster.gpu_toleration:
        out["tolerations"] = [
            {"key": cluster.gpu_toleration, "operator": "Exists", "effect": "NoSchedule"}
        ]
    return out


def retry_policy(cluster: ClusterConfig) -> dict | None:
    """A task's retryPolicy as kfp's `task.set_retry(retries)` writes it (its defaults)."""
    if not cluster.retries:
        return None
    return {
        "maxRetryCount": cluster.retries,
        "backoffDuration": "0s",
        "backoffFactor": 2.0,
        "backoffMaxDuration": "3600s",
    }


def beam_memory_gb(cpu: float) -> float:
    """Memory (GB) for a Beam task whose workers follow its CPU request: one worker
    per CPU at the measured 0.5 GiB each over a 1 GiB base (kubeflow.executor), and
    never under DEFAULT_BEAM_MEMORY."""
    workers = max(1, math.ceil(cpu))
    needed = (BASE_MEMORY_BYTES + workers * WORKER_MEMORY_BYTES) / 1e9
    return round(max(parse_memory_gb(DEFAULT_BEAM_MEMORY), needed), 6)


def resources_for(task: str, cluster: ClusterConfig) -> dict:
    """The container `resources` of one task in the spec's JSON form."""
    if task in TRAINER_TASKS:
        cpu, memory = cluster.trainer_cpu, cluster.trainer_memory
    elif task in HEAVY_TASKS:
        cpu, memory = cluster.cpu, cluster.memory
    else:
        cpu, memory = cluster.light_cpu, cluster.light_memory
    gb = parse_memory_gb(memory) if memory else beam_memory_gb(cpu)
    out = {"cpuRequest": cpu, "memoryRequest": gb, "memoryLimit": gb}
    if task in TRAINER_TASKS and cluster.gpu:
        out["accelerator"] = {"type": gpu_resource(cluster), "count": str(cluster.gpu[1])}
    return out
