"""Keys of ServedBaseline's parameters, output and artifact properties."""

# TF Serving's text-proto ModelServerConfig beside the models (`vrl serve
# --write-config` and `vrl label` write it there), named by the contract.
from contracts.model_config import MODEL_CONFIG_FILE  # noqa: F401 (re-exported)

MODEL_DIR_KEY = "model_dir"
LABEL_KEY = "label"
MODEL_KEY = "model"
# Custom properties of the output Model artifact.
PRESENT_PROPERTY = "served_present"  # 1 when a served version was found, else 0
VERSION_PROPERTY = "served_version"
PATH_PROPERTY = "served_path"
LABEL_PROPERTY = "served_label"  # the label that chose the version ('' for the policy's choice)
WHY_PROPERTY = "served_why"  # one line: how the version was chosen
