"""Key names of ImageChecks' inputs, outputs and parameters."""

EXAMPLES = "examples"
ANOMALIES = "anomalies"  # ExampleValidator's output (optional input)
IMAGE_ANOMALIES = "image_anomalies"
CONFIG = "config"
HALT_ON_ANOMALIES = "halt_on_anomalies"
# The JSON report inside the output artifact: contracts.files.IMAGE_CHECKS_FILE.
