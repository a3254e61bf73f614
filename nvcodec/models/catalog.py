"""The models nvc ships, by name: what ``nvc models`` lists and the registry loads.

Only names, files and hashes live here, so listing the models (and checking a
stream's model name before any weights are read) needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class ModelInfo:
    name: str
    config: str
    file: str  # file name inside nvcodec/weights
    sha256: str  # of the loaded float32 weights, as streams record it
    description: str


#: the shipped models; the first is the default
REGISTRY: tuple[ModelInfo, ...] = (
    ModelInfo(
        name="nvc-compact",
        config="compact-skip-deep-intra",
        file="nvc-compact.pt",
        sha256="7ffaf0ecd99fe499f416adbec07d6e7827b0aa971eb8044f3a1b11097b22c192",
        description="nvc's own compact DCVC-RT model, trained on CPU (see docs/MODEL_CARD.md)",
    ),
)
DEFAULT_MODEL = "nvc-compact"
#: the published architecture, whose weights (``cvpr2025_*.pth.tar``) are loaded from the user's own files
PUBLISHED_CONFIG = "dcvc-rt"


def list_models() -> list[ModelInfo]:
    return list(REGISTRY)


def find_model(name: str) -> ModelInfo | None:
    """The shipped model called ``name``, if any."""
    return next((info for info in REGISTRY if info.name == name), None)


def packaged_path(info: ModelInfo) -> Path:
    """Where the weights of a shipped model lie inside the installed package."""
    return Path(str(resources.files("nvcodec.weights").joinpath(info.file)))
