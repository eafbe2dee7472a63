"""vision-rl-pipeline: TFX pipelines for image classifiers and DQN policies."""

import setuptools

setuptools.setup(
    name="vision-rl-pipeline",
    version="0.1.0",
    description=(
        "Production TFX pipelines: image folders to validated data, Keras CNNs "
        "and TF-Agents DQN policies, evaluated and pushed to TensorFlow Serving."
    ),
    python_requires=">=3.10,<3.11",
    packages=setuptools.find_packages(
        include=["pipeline*", "components*", "models*", "serving*", "kubeflow*", "vrl*"]
    ),
    package_data={
        "": ["*.pbtxt", "*.config", "Dockerfile"],
        "serving": ["k8s/*.yaml"],
        "pipeline": ["schemas/*.pbtxt"],
    },
    # Exact pins live in requirements.lock (installed by bin/setup-venv);
    # these are the direct dependencies, loosely bounded for pip users.
    install_requires=[
        "tfx[kfp]>=1.16,<1.17",
        "tensorflow>=2.16,<2.17",
        "tf-keras>=2.16,<2.17",
        "tf-agents>=0.19,<0.20",
        "gymnasium>=1.0",
        "tensorflow-serving-api>=2.16,<2.17",
        "pillow",
        "matplotlib",
        "tqdm",
        "minatar>=1.0.15",
    ],
    # Optional parts, each constrained so it cannot move numpy or protobuf off
    # the pins TFX needs (numpy 1.26, protobuf 3.20).
    extras_require={
        "atari": ["ale-py>=0.12", "opencv-python-headless>=4.11,<5"],
        "wandb": ["wandb>=0.25,<0.26"],
    },
    entry_points={"console_scripts": ["vrl=vrl.cli:main"]},
)
