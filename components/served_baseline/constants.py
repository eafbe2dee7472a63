"""Keys of ServedBaseline's parameters, output and artifact properties."""

MODEL_DIR_KEY = "model_dir"
MODEL_KEY = "model"
# Custom properties of the output Model artifact.
PRESENT_PROPERTY = "served_present"  # 1 when a served version was found, else 0
VERSION_PROPERTY = "served_version"
PATH_PROPERTY = "served_path"
