"""Key names of the atomic Pusher's extra inputs and custom_config (one place)."""

PUSHER_ID = "Pusher"

# Optional inputs, read only for the provenance written beside the model.
EXAMPLES_KEY = "examples"
QUARANTINE_KEY = "quarantine"
EVALUATION_KEY = "evaluation"
MODEL_RUN_KEY = "model_run"

# Keys of the Pusher's custom_config (set by create_pusher).
PIPELINE_NAME_CONFIG = "vrl_pipeline_name"
MODEL_NAME_CONFIG = "vrl_model_name"
KIND_CONFIG = "vrl_kind"
# Set by the Kubeflow compiler: the container image (by digest) every task runs.
IMAGE_CONFIG = "vrl_image"
