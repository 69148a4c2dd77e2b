"""The `diffusers:` block of a generator's `submission.yaml`, and the checks of its pipeline folder.

```yaml
kind: generator
diffusers:
  pipeline: pipeline              # a folder written by DiffusionPipeline.save_pretrained (safetensors),
                                  # or a Hub id: hf://org/name@revision (`hub.py`)
  scheduler: DDIMScheduler        # optional: a diffusers scheduler class, built from the folder's config
  steps: 50
  guidance_scale: 1.0             # diffusers' convention: 1 = no classifier-free guidance
  conditioning:                   # `conditioning: unconditional` is short for {mode: unconditional}
    mode: prompt                  # unconditional | class_labels | prompt
    prompt: {template: "{view} chest radiograph of a {patient}. {findings}", negative_prompt: "blurry"}
  output: {channel: mean, resize: bilinear, value_range: [-1, 1]}
```

Every check here reads only JSON and file names, so a broken folder fails in one line naming the
file or field before any model is loaded. The adapter that runs it is
`adapters/diffusers_generator.py` (inside the sandbox).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cxrbench.errors import SubmissionError
from cxrbench.submissions.condition_mapping import ClassLabelMapping, PromptMapping

INDEX = "model_index.json"
#: weight formats that unpickle on load: never accepted
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib")
LIBRARIES = ("diffusers", "transformers")
#: pixel-space UNets the adapter samples itself (unconditional and class_labels modes); a
#: UNet2DConditionModel only without cross-attention (its class embedding can take a multi-hot vector)
PIXEL_UNETS = ("UNet2DModel", "UNet2DConditionModel")


class OutputMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: how a 3-channel image becomes grey
    channel: Literal["mean", "luminance", "first"] = "mean"
    #: resampling to the task's size (longest side, then padded to a square with black)
    resize: Literal["bilinear", "bicubic", "area", "nearest"] = "bilinear"
    #: range of the UNet's sample space (unconditional / class_labels; prompt pipelines decode to [0, 1] themselves)
    value_range: tuple[float, float] = (-1.0, 1.0)

    @model_validator(mode="after")
    def _range(self) -> "OutputMapping":
        lo, hi = self.value_range
        if not hi > lo:
            raise ValueError(f"value_range {list(self.value_range)}: the high end must exceed the low end")
        return self


class Conditioning(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["unconditional", "class_labels", "prompt"]
    class_labels: ClassLabelMapping | None = None
    prompt: PromptMapping | None = None

    @model_validator(mode="after")
    def _one_mapping(self) -> "Conditioning":
        if self.mode == "class_labels" and self.class_labels is None:
            raise ValueError("mode class_labels needs a class_labels mapping (encoding, labels)")
        if self.mode == "prompt" and self.prompt is None:
            self.prompt = PromptMapping()
        for other in ("class_labels", "prompt"):
            if other != self.mode and getattr(self, other) is not None:
                raise ValueError(f"a {other} mapping is given but mode is {self.mode}")
        return self


class DiffusersBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipeline: str
    scheduler: str | None = None
    scheduler_options: dict = {}
    steps: int = Field(default=50, ge=1, le=1000)
    guidance_scale: float = Field(default=1.0, ge=0.0, le=50.0)
    #: prompt pipelines: the size to draw at (default: the pipeline's own)
    height: int | None = Field(default=None, ge=8, le=2048)
    width: int | None = Field(default=None, ge=8, le=2048)
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    conditioning: Conditioning
    output: OutputMapping = OutputMapping()

    @field_validator("pipeline")
    @classmethod
    def _hub_id(cls, v: str) -> str:
        from cxrbench.submissions.hub import checked

        return checked(v)  # ValueError: not org/name@revision

    @field_validator("conditioning", mode="before")
    @classmethod
    def _mode_shorthand(cls, value):
        """`conditioning: unconditional` (a bare mode) means `{mode: unconditional}`."""
        return {"mode": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _fits(self) -> "DiffusersBlock":
        if self.scheduler is not None:
            import diffusers

            cls = getattr(diffusers, self.scheduler, None)
            if not (self.scheduler.endswith("Scheduler") and inspect.isclass(cls)):
                raise ValueError(f"scheduler {self.scheduler!r} is not a diffusers scheduler class "
                                 f"(e.g. DDIMScheduler, DPMSolverMultistepScheduler)")
        labels = self.conditioning.class_labels
        if self.guidance_scale > 1 and self.conditioning.mode == "unconditional":
            raise ValueError("guidance_scale > 1 needs a condition: unconditional sampling has none")
        if self.guidance_scale > 1 and labels is not None and labels.null_class is None:
            raise ValueError("guidance_scale > 1 with class labels needs null_class (the model's unconditional class)")
        if self.conditioning.mode != "prompt" and (self.height or self.width):
            raise ValueError("height/width are for prompt pipelines; pixel UNets draw at their sample_size")
        return self


def _json(path: Path, where: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SubmissionError(f"{path}: missing ({where})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SubmissionError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SubmissionError(f"{path}: expected a JSON object")
    return data


def components(index: dict) -> dict[str, tuple[str, str]]:
    """model_index.json's components that are present: name → (library, class)."""
    out = {}
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or len(value) != 2:
            continue
        if value[0] is not None:
            out[name] = (value[0], value[1])
    return out


def _is_weighted(library: str, class_name: str) -> bool:
    """Whether a component class holds weights (models yes; schedulers, tokenizers, processors no)."""
    import importlib

    try:
        cls = getattr(importlib.import_module(library), class_name)
    except (ImportError, AttributeError):
        return False
    import torch

    return isinstance(cls, type) and issubclass(cls, torch.nn.Module)


def check_pipeline_folder(root: Path, block: DiffusersBlock, manifest_path: Path, snapshot=None) -> Path:
    """Check a submission's pipeline folder (or the Hub snapshot `snapshot` its `pipeline` id resolved
    to, `hub.py`) against its block; SubmissionError names the fault."""
    folder = snapshot.folder if snapshot is not None else (root / block.pipeline).resolve()
    if snapshot is None and folder != root and root not in folder.parents:
        raise SubmissionError(f"{manifest_path}: diffusers.pipeline {block.pipeline!r} points outside the submission "
                              f"(copy the pipeline folder into the submission: the sandbox sees nothing else)")
    if not folder.is_dir():
        raise SubmissionError(f"{manifest_path}: diffusers.pipeline {block.pipeline!r} is not a folder")
    pickles = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise SubmissionError(f"{pickles[0]}: pickle weights are never loaded; save with "
                              f"save_pretrained(..., safe_serialization=True) and delete the {pickles[0].suffix} files")
    if not (folder / INDEX).is_file():
        raise SubmissionError(f"{folder}: not a diffusers pipeline folder (no {INDEX}; write one with "
                              f"DiffusionPipeline.save_pretrained)")
    index = _json(folder / INDEX, "the pipeline index")
    import diffusers

    class_name = index.get("_class_name")
    pipe_cls = getattr(diffusers, class_name, None) if isinstance(class_name, str) else None
    if not (inspect.isclass(pipe_cls) and issubclass(pipe_cls, diffusers.DiffusionPipeline)):
        raise SubmissionError(f"{folder / INDEX}: _class_name {class_name!r} is not a pipeline class diffusers ships "
                              f"(zero-code submissions run no code of their own)")
    parts = components(index)
    for name, (library, cls) in parts.items():
        if library not in LIBRARIES:
            raise SubmissionError(f"{folder / INDEX}: component {name!r} comes from {library!r}; zero-code "
                                  f"submissions use classes that {' or '.join(LIBRARIES)} ship")
        if not (folder / name).is_dir():
            raise SubmissionError(f"{folder / name}: missing component {name!r} ({cls}) named in {INDEX}")
        if _is_weighted(library, cls) and not list((folder / name).glob("*.safetensors")):
            raise SubmissionError(f"{folder / name}: component {name!r} ({cls}) has no .safetensors weights")
    _check_mode(folder, block, parts, pipe_cls)
    return folder


def _check_mode(folder: Path, block: DiffusersBlock, parts: dict, pipe_cls) -> None:
    mode = block.conditioning.mode
    if mode == "prompt":
        params = inspect.signature(pipe_cls.__call__).parameters
        if "prompt" not in params:
            raise SubmissionError(f"{folder / INDEX}: {pipe_cls.__name__} takes no prompt; conditioning mode prompt "
                                  f"needs a text-to-image pipeline")
        if block.conditioning.prompt.negative_prompt is not None and "negative_prompt" not in params:
            raise SubmissionError(f"{folder / INDEX}: {pipe_cls.__name__} takes no negative_prompt")
        return
    for name in ("unet", "scheduler"):
        if name not in parts:
            raise SubmissionError(f"{folder / INDEX}: conditioning mode {mode} needs a pipeline with a {name}")
    if parts["unet"][1] not in PIXEL_UNETS:
        raise SubmissionError(f"{folder / INDEX}: unet is a {parts['unet'][1]}; modes unconditional and class_labels "
                              f"sample a pixel-space {' or '.join(PIXEL_UNETS)}")
    unet = _json(folder / "unet" / "config.json", "the unet's config")
    where = folder / "unet" / "config.json"
    blocks = [*unet.get("down_block_types", []), *unet.get("up_block_types", []), unet.get("mid_block_type") or ""]
    if parts["unet"][1] == "UNet2DConditionModel" and any("CrossAttn" in (b or "") for b in blocks):
        raise SubmissionError(f"{where}: the UNet has cross-attention blocks, so it needs text embeddings; use "
                              f"conditioning mode prompt with a text-to-image pipeline")
    n_class, embed = unet.get("num_class_embeds"), unet.get("class_embed_type")
    labels = block.conditioning.class_labels
    if mode == "unconditional":
        if n_class is not None or embed is not None:
            raise SubmissionError(f"{where}: the UNet takes class labels (num_class_embeds={n_class}, "
                                  f"class_embed_type={embed}); use conditioning mode class_labels")
    elif labels.encoding == "class_id":
        if embed is not None or n_class is None:
            raise SubmissionError(f"{where}: num_class_embeds is {n_class} (class_embed_type {embed}): the UNet takes "
                                  f"no class ids; use encoding multi_hot or mode unconditional")
        if labels.n_classes > n_class:
            raise SubmissionError(f"{where}: num_class_embeds is {n_class} but the label mapping uses "
                                  f"{labels.n_classes} classes")
    else:
        width = {"projection": unet.get("projection_class_embeddings_input_dim"),
                 "identity": (unet.get("block_out_channels") or [0])[0] * 4}.get(embed)
        if width != len(labels.labels):
            raise SubmissionError(f"{where}: a multi-hot vector of {len(labels.labels)} label(s) needs a UNet whose class "
                                  f"embedding takes {len(labels.labels)} numbers (class_embed_type 'projection' with "
                                  f"projection_class_embeddings_input_dim {len(labels.labels)}); this one has "
                                  f"class_embed_type {embed!r}" + (f" of width {width}" if width else ""))
