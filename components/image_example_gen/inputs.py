"""Span, version and input fingerprint of ImageExampleGen's inputs, for the
driver (local runs) and for the executor when no driver ran (Kubeflow).

TFX's `FileBasedInputProcessor` (`utils.calculate_splits_fingerprint_span_and_version`)
does the work. Only when a listing holds a name that is not UTF-8, which
makes TensorFlow's glob raise, the same computation is repeated over
`names.glob` with TFX's own pattern helpers, so the run goes on (the file is
quarantined later) and the fingerprint has TFX's format.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable
from typing import Any

from absl import logging
from tfx.components.example_gen import driver, input_processor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.image_example_gen import names

SPAN_KEY = example_gen_utils.SPAN_PROPERTY_NAME
VERSION_KEY = example_gen_utils.VERSION_PROPERTY_NAME
FINGERPRINT_KEY = example_gen_utils.FINGERPRINT_PROPERTY_NAME


def split_fingerprint(split_name: str, pattern: str) -> str:
    """`io_utils.generate_fingerprint` over `names.glob` (same format and checksums)."""
    files = names.glob(pattern)
    total_bytes = xor_checksum = sum_checksum = 0
    for path in files:
        size, mtime = names.size_and_mtime(path)
        total_bytes += size
        xor_checksum ^= mtime
        sum_checksum += mtime
    return (
        f"split:{split_name},num_files:{len(files)},total_bytes:{total_bytes},"
        f"xor_checksum:{xor_checksum},sum_checksum:{sum_checksum}"
    )


def _target_span_version(
    uri: str,
    split: example_gen_pb2.Input.Split,
    range_config: range_config_pb2.RangeConfig | None,
) -> tuple[int | None, int | None]:
    """`utils._get_target_span_version` over `names.glob`; fills the split's pattern."""
    is_span, is_date, is_version = example_gen_utils.verify_split_pattern_specs(split)
    if not is_span and not is_date:
        return None, None
    glob_pattern, regex = example_gen_utils._create_matching_glob_and_regex(  # noqa: SLF001
        uri, split, is_span, is_date, is_version, range_config
    )
    best: tuple[int, int | None, list[str], str | None] | None = None
    for path in names.glob(glob_pattern):
        tokens, span, version, version_int = example_gen_utils._find_matched_span_version_from_path(  # noqa: SLF001
            path, regex, is_span, is_date, is_version
        )
        key = (span, -1 if version_int is None else version_int)
        if best is None or key >= (best[0], -1 if best[1] is None else best[1]):
            best = (span, version_int, tokens, version)
    if best is None or (is_version and best[3] is None):
        raise ValueError(f"Cannot find matching for split {split.name} based on {split.pattern}")
    span, version_int, tokens, version = best
    if is_span:
        split.pattern = re.sub(example_gen_utils.SPAN_FULL_REGEX, tokens[0], split.pattern)
    else:
        for spec, value in zip(example_gen_utils.DATE_SPECS, tokens, strict=True):
            split.pattern = split.pattern.replace(spec, value)
    if is_version:
        split.pattern = re.sub(example_gen_utils.VERSION_FULL_REGEX, version, split.pattern)
    return span, version_int


def fingerprint_span_and_version(
    input_base: str,
    splits: Iterable[example_gen_pb2.Input.Split],
    range_config: range_config_pb2.RangeConfig | None = None,
) -> tuple[str, int, int | None]:
    """`calculate_splits_fingerprint_span_and_version` for any file name."""
    try:
        return example_gen_utils.calculate_splits_fingerprint_span_and_version(
            input_base, splits, range_config
        )
    except UnicodeError:
        logging.warning("ImageExampleGen: a name under %s is not UTF-8", input_base)
    fingerprints, selected = [], None
    for split in splits:
        span, version = _target_span_version(input_base, split, range_config)
        if selected is not None and selected != (span or 0, version):
            raise ValueError("Latest span and version should be the same for each split")
        selected = (span or 0, version)
        fingerprints.append(split_fingerprint(split.name, os.path.join(input_base, split.pattern)))
    span, version = selected or (0, None)
    return "\n".join(fingerprints), span, version


class ImageInputProcessor(input_processor.FileBasedInputProcessor):
    """TFX's FileBasedInputProcessor, tolerant of names that are not UTF-8."""

    def resolve_span_and_version(self) -> tuple[int, int | None]:
        """Span and version (and the fingerprint, kept for get_input_fingerprint)."""
        splits = [copy.deepcopy(split) for split in self._splits]
        self._fingerprint, span, version = fingerprint_span_and_version(
            self._input_base_uri, splits, self._range_config
        )
        return span, version


class ImageFileBasedDriver(driver.FileBasedDriver):
    """TFX's FileBasedDriver with ImageInputProcessor."""

    def get_input_processor(
        self,
        splits: Iterable[example_gen_pb2.Input.Split],
        range_config: range_config_pb2.RangeConfig | None = None,
        input_base_uri: str | None = None,
    ) -> input_processor.InputProcessor:
        """ImageInputProcessor over input_base_uri."""
        if not input_base_uri:
            raise ValueError("ImageExampleGen needs input_base (the folder holding the inputs)")
        return ImageInputProcessor(input_base_uri, splits, range_config)


def has_driver_properties(exec_properties: dict[str, Any]) -> bool:
    """True when a driver already resolved span and fingerprint."""
    return (
        exec_properties.get(SPAN_KEY) is not None
        and exec_properties.get(FINGERPRINT_KEY) is not None
    )


def resolve_exec_properties(exec_properties: dict[str, Any]) -> dict[str, Any]:
    """What FileBasedDriver.resolve_exec_properties does, for runs without a driver.

    Returns a copy with span, version, input_fingerprint set and the span and
    version placeholders of input_config's patterns filled in.
    """
    props = dict(exec_properties)
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(props[standard_component_specs.INPUT_CONFIG_KEY], input_config)
    range_config = None
    if props.get(standard_component_specs.RANGE_CONFIG_KEY):
        range_config = range_config_pb2.RangeConfig()
        proto_utils.json_to_proto(props[standard_component_specs.RANGE_CONFIG_KEY], range_config)
    processor = ImageInputProcessor(
        props[standard_component_specs.INPUT_BASE_KEY], input_config.splits, range_config
    )
    span, version = processor.resolve_span_and_version()
    for split in input_config.splits:
        split.pattern = processor.get_pattern_for_span_version(split.pattern, span, version)
    props[standard_component_specs.INPUT_CONFIG_KEY] = proto_utils.proto_to_json(input_config)
    props[SPAN_KEY] = span
    props[VERSION_KEY] = version
    props[FINGERPRINT_KEY] = processor.get_input_fingerprint(span, version)
    return props
