"""RAD-DINO as an audit feature space: a DINOv2 encoder trained on chest radiographs
(microsoft/rad-dino), loaded through `transformers.AutoModel`; CheXGenBench's space for FID/KID.

Features are the pooled CLS embedding of each image, preprocessed as the model's own image
processor says (resize to its crop size, grey repeated to 3 channels, its mean / std). Weights
come from a local folder (`save_pretrained` output, safetensors) or a hub id already in the local
Hugging Face cache: nothing is downloaded while auditing (`fetch` does that, once).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cxrbench.audit.weights_folder import default_dir, missing_weights, safetensors_digest
from cxrbench.data.preprocess import check_images
from cxrbench.errors import ConfigError

NAME = "rad-dino"
HUB_ID = "microsoft/rad-dino"


def resolve_folder(weights: str | Path | None) -> Path:
    """The weights folder: a path, a hub id from the local Hugging Face cache, or the default folder."""
    if weights is None:
        folder = default_dir(NAME)
        if not folder.is_dir():
            raise missing_weights(NAME, folder)
        return folder
    path = Path(weights).expanduser()
    if path.is_dir():
        return path
    if "/" in str(weights) and not path.exists() and len(str(weights).split("/")) == 2:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            return Path(snapshot_download(str(weights), local_files_only=True))
        except LocalEntryNotFoundError:
            raise ConfigError(f"feature space {NAME!r}: {weights} is not in the local Hugging Face cache; run "
                              f"`cxrbench features fetch {NAME}` (or `hf download {weights}`) on a machine with "
                              f"network") from None
    raise missing_weights(NAME, path)


class RadDinoExtractor:
    """uint8 (N, S, S) → float32 (N, hidden) pooled CLS features of a DINOv2 model."""

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", batch_size: int = 32):
        from transformers import AutoImageProcessor, AutoModel

        self.folder = resolve_folder(weights)
        self.weights_sha256 = safetensors_digest(self.folder, NAME)
        self.model = AutoModel.from_pretrained(self.folder, local_files_only=True, use_safetensors=True).eval()
        self.model.to(device)
        processor = AutoImageProcessor.from_pretrained(self.folder, local_files_only=True)
        crop = getattr(processor, "crop_size", None) if getattr(processor, "do_center_crop", False) else None
        size = crop or processor.size
        self.side = int(size["height"] if "height" in size and size["height"] else size["shortest_edge"])
        self.mean = torch.tensor(processor.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(processor.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        self.device, self.batch_size = device, batch_size
        self.name = NAME
        self.version = f"{self.model.config.model_type}-{self.model.config.hidden_size}+{self.weights_sha256[:12]}"

    def info(self) -> dict:
        return {"name": self.name, "version": self.version, "weights_sha256": self.weights_sha256,
                "model": type(self.model).__name__, "input_size": self.side}

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        check_images(images, "images")
        out = []
        for start in range(0, images.shape[0], self.batch_size):
            x = torch.from_numpy(np.asarray(images[start:start + self.batch_size], dtype=np.float32) / 255.0)
            # square films: the processor's shortest-edge resize + centre crop is this one resize
            x = F.interpolate(x[:, None], size=(self.side, self.side), mode="bicubic", antialias=True,
                              align_corners=False).clamp(0, 1).repeat(1, 3, 1, 1)
            x = ((x - self.mean) / self.std).to(self.device)
            out.append(self.model(pixel_values=x).pooler_output.float().cpu().numpy())
        return np.concatenate(out).astype(np.float32)


def fetch(out: Path, hub_id: str = HUB_ID) -> Path:
    """Download `hub_id` (needs network) and save it as a safetensors folder the extractor loads."""
    from transformers import AutoImageProcessor, AutoModel

    AutoModel.from_pretrained(hub_id).save_pretrained(out, safe_serialization=True)
    AutoImageProcessor.from_pretrained(hub_id).save_pretrained(out)
    return out
