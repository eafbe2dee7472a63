"""Keys, the QuarantineReport artifact type and the ComponentSpec of ImageExampleGen."""

from __future__ import annotations

from tfx.types import artifact, component_spec, standard_component_specs

from contracts.images import ImageLimits

# Parameters added to TFX's FileBasedExampleGenSpec.
INPUT_FORMAT_KEY = "input_format"
MAX_BAD_FRACTION_KEY = "max_bad_fraction"
LABELS_KEY = "labels"  # JSON list of class names, or "" for "sorted names found"
MIN_SIDE_KEY = "min_side"
MAX_SIDE_KEY = "max_side"
MAX_IMAGE_PIXELS_KEY = "max_image_pixels"

# Outputs: TFX's `examples` plus the quarantine report.
EXAMPLES_KEY = standard_component_specs.EXAMPLES_KEY
QUARANTINE_KEY = "quarantine"

# Files in the QuarantineReport artifact.
QUARANTINE_FILENAME = "quarantine.jsonl"  # the report itself: contracts.files.INGEST_REPORT_FILE

DEFAULT_MAX_BAD_FRACTION = 0.05
# Written once, in contracts.images.ImageLimits (serving checks the same limits).
DEFAULT_MIN_SIDE = ImageLimits.min_side
DEFAULT_MAX_SIDE = ImageLimits.max_side
DEFAULT_MAX_IMAGE_PIXELS = ImageLimits.max_pixels


class QuarantineReport(artifact.Artifact):
    """Inputs ImageExampleGen refused, with reasons, and the ingest counts.

    Files: quarantine.jsonl (one {path, reason, detail, label_name,
    input_pattern} per line, paths relative to input_base) and
    ingest_report.json (counts per input pattern, split, class and reason).
    Custom properties: files_seen, examples_written, quarantined, bad_fraction.

    TYPE_NAME is `<module>.<Class>` because Kubeflow V2 requires that form and
    imports the class from it at run time (`components` re-exports it).
    """

    TYPE_NAME = "components.QuarantineReport"


class ImageExampleGenSpec(component_spec.ComponentSpec):
    """FileBasedExampleGenSpec plus image-checking parameters and `quarantine`."""

    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        INPUT_FORMAT_KEY: component_spec.ExecutionParameter(type=str),
        MAX_BAD_FRACTION_KEY: component_spec.ExecutionParameter(type=float),
        LABELS_KEY: component_spec.ExecutionParameter(type=str, optional=True),
        MIN_SIDE_KEY: component_spec.ExecutionParameter(type=int),
        MAX_SIDE_KEY: component_spec.ExecutionParameter(type=int),
        MAX_IMAGE_PIXELS_KEY: component_spec.ExecutionParameter(type=int),
    }
    INPUTS = {}
    OUTPUTS = {
        EXAMPLES_KEY: standard_component_specs.FileBasedExampleGenSpec.OUTPUTS[EXAMPLES_KEY],
        QUARANTINE_KEY: component_spec.ChannelParameter(type=QuarantineReport),
    }
