"""`vrl compile` and `vrl submit`: the same pipelines on Kubeflow Pipelines v2.

`vrl compile image|rl` takes every flag of `vrl run image|rl` (same config
objects) plus where and how the pods run.
"""

from __future__ import annotations

import argparse

from vrl import preflight
from vrl.help_format import DefaultsFormatter

DEFAULT_EXPERIMENT = "vision-rl-pipeline"


def _add_cluster_args(p: argparse.ArgumentParser) -> None:
    from kubeflow.cluster import TARGETS, ClusterConfig
    from kubeflow.objectstore import DEFAULT_PIPELINE_ROOT

    d = ClusterConfig(image="registry.invalid/x@sha256:" + "0" * 64)
    p.add_argument("--out", required=True, help="package to write: .yaml for kfp, .json for vertex")
    p.add_argument(
        "--pipeline-root",
        default=DEFAULT_PIPELINE_ROOT,
        help="artifact root in the object store KFP's launcher uses: minio://BUCKET/PREFIX "
        "(a stock install's MinIO), s3://BUCKET/PREFIX or gs://BUCKET/PREFIX (gs:// for vertex)",
    )
    p.add_argument(
        "--image",
        required=True,
        help="REGISTRY/vision-rl-pipeline@sha256:... (built from kubeflow/Dockerfile)",
    )
    p.add_argument(
        "--target",
        default=d.target,
        choices=TARGETS,
        help="kfp: open-source Kubeflow Pipelines v2; vertex: Vertex AI",
    )
    p.add_argument(
        "--pvc",
        action="append",
        default=[],
        metavar="CLAIM:/PATH",
        help="mount a PersistentVolumeClaim into every task, repeatable",
    )
    p.add_argument(
        "--gpu",
        default=None,
        metavar="RESOURCE:COUNT",
        help="GPUs for the trainers: a Kubernetes resource (nvidia.com/gpu:1) or a GPU type "
        "(nvidia-tesla-t4:1: nvidia.com/gpu on nodes labelled with that type; Vertex's "
        "accelerator for --target vertex) (default: none, CPU only)",
    )
    p.add_argument(
        "--gpu-node-selector",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="node label the trainers' pods require, repeatable "
        f"(e.g. {d.gpu_node_label}=nvidia-tesla-t4)",
    )
    p.add_argument(
        "--gpu-node-label",
        default=d.gpu_node_label,
        help="node label carrying the GPU type when --gpu names a type",
    )
    p.add_argument(
        "--gpu-toleration",
        default=d.gpu_toleration,
        metavar="TAINT_KEY",
        help="taint key the trainers tolerate on GPU nodes (Exists, NoSchedule); '' for none",
    )
    p.add_argument("--cpu", type=float, default=d.cpu, help="CPU request of data/eval tasks")
    p.add_argument("--memory", default=d.memory, help="memory request of data/eval tasks")
    p.add_argument(
        "--trainer-cpu", type=float, default=d.trainer_cpu, help="CPU request of the trainers"
    )
    p.add_argument(
        "--timeout",
        default=None,
        metavar="DURATION",
        help="stop any task whose pod runs longer, e.g. 6h (default: no limit)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=d.retries,
        help="times KFP retries a failed task, e.g. a pod lost with a preemptible node",
    )
    p.add_argument(
        "--trainer-memory", default=d.trainer_memory, help="memory request of the trainers"
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Registers `vrl compile image|rl` and `vrl submit`."""
    from vrl import image, rl

    compile_p = sub.add_parser(
        "compile", help="compile a pipeline for Kubeflow Pipelines v2 or Vertex AI"
    )
    compile_sub = compile_p.add_subparsers(dest="pipeline", required=True)
    for name, module in (("image", image), ("rl", rl)):
        p = compile_sub.add_parser(
            name,
            help=f"compile the {name} pipeline (every `vrl run {name}` flag applies)",
            formatter_class=DefaultsFormatter,
        )
        _add_cluster_args(p)
        module.add_config_args(p, cluster=True)
        p.set_defaults(func=compile_command, config_module=module)

    p = sub.add_parser(
        "submit",
        help="submit a compiled package to Kubeflow Pipelines (a run or a recurring run)",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("package", help="YAML written by `vrl compile`")
    p.add_argument(
        "--host", required=True, help="Kubeflow Pipelines API endpoint, e.g. http://localhost:8080"
    )
    p.add_argument(
        "--experiment", default=DEFAULT_EXPERIMENT, help="experiment to create the run in"
    )
    p.add_argument(
        "--run-name",
        default=None,
        help="default: the pipeline name and the UTC time (a recurring run: the pipeline name)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a pipeline parameter or any trainer/DQN field for this run, repeatable "
        "(e.g. epochs=5, image_size=64, data_root=gs://b/d); each value is checked by its "
        "config field before anything is sent",
    )
    schedule = p.add_mutually_exclusive_group()
    schedule.add_argument(
        "--cron", default=None, help="recurring run, 6 fields with seconds first: '0 0 3 * * *'"
    )
    schedule.add_argument(
        "--every", default=None, help="recurring run at an interval: 30m, 24h, 7d"
    )
    p.add_argument("--max-concurrency", type=int, default=1, help="recurring runs at once")
    p.add_argument("--no-catchup", action="store_true", help="skip runs missed while paused")
    p.add_argument("--namespace", default=None, help="Kubeflow profile namespace (multi-user)")
    p.add_argument(
        "--pipeline-root",
        default=None,
        help="artifact root for this run (default: the one compiled into the package; "
        "the backend itself never reads it from the package)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="run every task even where KFP's cache holds a result (enable_caching=False)",
    )
    p.add_argument(
        "--service-account",
        default=None,
        help="Kubernetes ServiceAccount for the run's pods (default: the namespace's pipeline runner)",
    )
    p.add_argument(
        "--upload",
        action="store_true",
        help="upload the package as a new version of the pipeline (named with the time and "
        "git commit; the pipeline is created the first time) and run that version",
    )
    p.set_defaults(func=submit_command)


def compile_command(args: argparse.Namespace) -> int:
    """Builds the same config objects as `vrl run`, then compiles."""
    import warnings

    from kubeflow.cluster import (
        ClusterConfig,
        MutableImageWarning,
        parse_duration,
        parse_gpu,
        parse_label,
        parse_pvc,
    )
    from kubeflow.compile import compile_pipeline
    from kubeflow.objectstore import check_pipeline_root

    if args.target == "kfp":  # before any work: the launcher would refuse it in every pod
        check_pipeline_root(args.pipeline_root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MutableImageWarning)
        cluster = ClusterConfig(
            image=args.image,
            target=args.target,
            pvc_mounts=tuple(parse_pvc(x) for x in args.pvc),
            gpu=parse_gpu(args.gpu) if args.gpu else None,
            gpu_node_selector=tuple(
                parse_label(x, "--gpu-node-selector") for x in args.gpu_node_selector
            ),
            gpu_node_label=args.gpu_node_label,
            gpu_toleration=args.gpu_toleration,
            cpu=args.cpu,
            memory=args.memory,
            trainer_cpu=args.trainer_cpu,
            trainer_memory=args.trainer_memory,
            retries=args.retries,
            timeout_seconds=parse_duration(args.timeout, "--timeout") if args.timeout else 0,
        )
    for w in caught:
        print(f"vrl compile: warning: {w.message}")
    config = args.config_module.config_from_args(args, pipeline_root=args.pipeline_root)
    if args.pipeline == "rl":  # the pods would be the first to find an unknown id
        preflight.check_env_id(config.env_id)
    beam_args = getattr(args, "beam_arg", None) or None
    path = compile_pipeline(args.pipeline, config, cluster, args.out, beam_pipeline_args=beam_args)
    print(f"wrote {path} ({cluster.target})")
    return 0


def submit_command(args: argparse.Namespace) -> int:
    """Validates the package and parameters, then creates the run or recurring run."""
    from kubeflow.submit import Schedule, parse_params, submit

    result = submit(
        args.package,
        host=args.host,
        experiment=args.experiment,
        run_name=args.run_name,
        params=parse_params(args.param),
        schedule=Schedule.from_flags(
            cron=args.cron,
            every=args.every,
            max_concurrency=args.max_concurrency,
            catchup=not args.no_catchup,
        ),
        namespace=args.namespace,
        pipeline_root=args.pipeline_root,
        enable_caching=False if args.no_cache else None,
        service_account=args.service_account,
        upload=args.upload,
    )
    print(f"created {result.kind} {result.id} in experiment {result.experiment}")
    for old in result.replaced:
        print(f"deleted recurring_run {old}: replaced by {result.id}")
    return 0
