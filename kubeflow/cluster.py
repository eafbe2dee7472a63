"""Where and how the compiled pipeline runs: target, image, volumes, resources."""

from __future__ import annotations

import dataclasses
import re
import warnings

TARGETS = ("kfp", "vertex")
TRAINER_TASKS = ("Trainer", "DqnTrainer")
HEAVY_TASKS = ("ImageExampleGen", "StatisticsGen", "Transform", "Evaluator", "PolicyEvaluator")
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)([GM])i?")


class MutableImageWarning(UserWarning):
    """The image is referenced by tag: a re-pushed tag changes what runs."""


def parse_memory_gb(text: str) -> float:
    """'8G', '8Gi', '512M' -> gigabytes as Kubeflow's spec counts them."""
    m = _MEMORY.fullmatch(text.strip())
    if not m:
        raise ValueError(f"memory {text!r}: expected a size like 8G, 8Gi or 512M")
    value = float(m.group(1))
    return value if m.group(2) == "G" else value / 1024


def parse_gpu(text: str) -> tuple[str, int]:
    """'nvidia-tesla-t4:1' -> ('nvidia-tesla-t4', 1)."""
    kind, _, count = text.partition(":")
    if not kind or not count.isdigit() or int(count) < 1:
        raise ValueError(f"--gpu {text!r}: expected TYPE:COUNT, e.g. nvidia-tesla-t4:1")
    return kind, int(count)


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
    """Refuses an image a cluster cannot pull; warns when it is not pinned by digest."""
    first, _, rest = image.partition("/")
    if not rest or not ("." in first or ":" in first or first == "localhost"):
        raise ValueError(
            f"--image {image!r} names no registry host, so a cluster cannot pull it; "
            "push it and pass REGISTRY/vision-rl-pipeline@sha256:... "
            "(e.g. us-docker.pkg.dev/PROJECT/REPO/vision-rl-pipeline@sha256:...)"
        )
    if "@sha256:" not in image:
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
    """Accelerator (type, count) requested by Trainer and DqnTrainer."""
    cpu: float = 1.0
    """CPU request of the data and evaluation tasks."""
    memory: str = "4G"
    """Memory request (and limit) of the data and evaluation tasks."""
    trainer_cpu: float = 2.0
    """CPU request of Trainer and DqnTrainer."""
    trainer_memory: str = "8G"
    """Memory request (and limit) of Trainer and DqnTrainer."""
    light_cpu: float = 0.5
    """CPU request of the light tasks (schema, checks, baseline, push)."""
    light_memory: str = "2G"
    """Memory request (and limit) of the light tasks."""

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"--target must be one of {TARGETS}, got {self.target!r}")
        if self.target == "vertex" and self.pvc_mounts:
            raise ValueError("--pvc is for open-source Kubeflow; Vertex AI reads gs:// paths")
        for cpu in (self.cpu, self.trainer_cpu, self.light_cpu):
            if cpu <= 0:
                raise ValueError(f"CPU requests must be > 0, got {cpu}")
        for memory in (self.memory, self.trainer_memory, self.light_memory):
            parse_memory_gb(memory)
        check_image(self.image)

    def check_output_file(self, path: str) -> None:
        """kfp.Client reads YAML packages; Vertex takes the PipelineJob JSON."""
        want = (".yaml", ".yml") if self.target == "kfp" else (".json",)
        if not path.endswith(want):
            raise ValueError(
                f"--out {path!r}: a {self.target} package must end with {' or '.join(want)}"
            )


def resources_for(task: str, cluster: ClusterConfig) -> dict:
    """The container `resources` of one task in the spec's JSON form."""
    if task in TRAINER_TASKS:
        cpu, memory = cluster.trainer_cpu, cluster.trainer_memory
    elif task in HEAVY_TASKS:
        cpu, memory = cluster.cpu, cluster.memory
    else:
        cpu, memory = cluster.light_cpu, cluster.light_memory
    gb = parse_memory_gb(memory)
    out = {"cpuRequest": cpu, "memoryRequest": gb, "memoryLimit": gb}
    if task in TRAINER_TASKS and cluster.gpu:
        out["accelerator"] = {"type": cluster.gpu[0], "count": str(cluster.gpu[1])}
    return out
