"""Configuration of the inference pipeline: an unlabelled pool of images scored by the
served model with TFX's BulkInferrer (one frozen dataclass)."""

from __future__ import annotations

import dataclasses
import os

from models.fields import field_check, normalize, problems, setting
from pipeline.image_config import ImagePipelineConfig


def _image_setting(name: str, default=dataclasses.MISSING):
    """The image pipeline's field `name`: its check, and its default unless another is
    given (the model scored here is the one that pipeline trains and pushes)."""
    field = next(f for f in dataclasses.fields(ImagePipelineConfig) if f.name == name)
    same = field.default if default is dataclasses.MISSING else default
    return setting(same, like=field_check(ImagePipelineConfig, name))


@dataclasses.dataclass(frozen=True)
class InferPipelineConfig:
    """Everything `create_infer_pipeline` needs; the fields it shares with the image
    pipeline (home, serving base, model name, label, bad fraction) are checked and
    defaulted as that pipeline's (pipeline/image_config.py)."""

    data_dir: str = setting(nonempty=True)
    """The unlabelled pool: a folder of image files (no class folders, no labels)."""
    home: str = _image_setting("home")
    """Working folder: pipeline outputs and ML Metadata under <home>/tfx/<pipeline_name>,
    and (by default) the serving base."""
    pipeline_name: str = _image_setting("pipeline_name", "image-inference")
    """TFX pipeline name ([a-z0-9-]; keys its ML Metadata contexts)."""
    serving_base: str | None = _image_setting("serving_base")
    """TF Serving model base path; default <home>/serving."""
    model_name: str = _image_setting("model_name")
    """The served model that scores the pool: <serving_base>/<model_name>/<version>/."""
    baseline_label: str = _image_setting("baseline_label")
    """Version label in the serving base's model config that names the model in
    production; empty takes 'stable' when the model has labels, else the version
    policy's choice (without a config: the newest pushed version)."""
    max_bad_fraction: float = _image_setting("max_bad_fraction", 0.2)
    """ImageExampleGen fails when more than this share of the pool is quarantined."""
    enable_cache: bool = _image_setting("enable_cache")
    """Reuse results of components whose inputs did not change (the served model is
    read afresh every run, so a new version is always the one that scores)."""

    def __post_init__(self) -> None:
        normalize(self)
        found = problems(self)
        if not self.home:
            found.append("home must name a working folder")
        if found:
            raise ValueError("; ".join(f"InferPipelineConfig.{p}" for p in found))

    @property
    def resolved_pipeline_root(self) -> str:
        """The pipeline root actually used."""
        return os.path.join(self.home, "tfx", self.pipeline_name)

    @property
    def resolved_serving_base(self) -> str:
        """The serving base path actually used."""
        return self.serving_base or os.path.join(self.home, "serving")

    @property
    def pool_parent(self) -> str:
        """ImageExampleGen's input base: the folder holding the pool folder."""
        return os.path.dirname(os.path.abspath(self.data_dir))

    @property
    def pool_pattern(self) -> str:
        """The pool's images relative to `pool_parent` (`<pool folder>/*`)."""
        return os.path.basename(os.path.abspath(self.data_dir)) + "/*"
