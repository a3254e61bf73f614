"""A codec model: the intra and inter networks that code one stream, with an identity."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from nvcodec.models.checkpoint import load_into, read_checkpoint, state_sha256
from nvcodec.models.config import ModelConfig, get_config
from nvcodec.models.inter import InterModel
from nvcodec.models.intra import IntraModel
from nvcodec.models.lambdas import LAMBDA_MAX_NARROW
from nvcodec.models.synthetic import fill_synthetic


@dataclass
class CodecModel:
    """Both networks plus the name and weight hash that streams record."""

    name: str
    config: ModelConfig
    intra: IntraModel
    inter: InterModel
    sha256: str
    # lambda at qp 63 the weights were trained at (nvcodec.models.lambdas); the encoder's
    # rate-distortion choices use the same curve
    lambda_max: float = LAMBDA_MAX_NARROW

    def to(self, device: torch.device | str) -> CodecModel:
        self.intra.to(device)
        self.inter.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.intra.q_scale_enc.device


def _finish(name: str, config: ModelConfig, intra: IntraModel, inter: InterModel,
            lambda_max: float = LAMBDA_MAX_NARROW) -> CodecModel:
    intra.eval().requires_grad_(False)
    inter.eval().requires_grad_(False)
    digest = state_sha256(intra.state_dict(), inter.state_dict())
    return CodecModel(name, config, intra, inter, digest, lambda_max)


def synthetic_model(seed: int, config: str | ModelConfig = "dcvc-rt") -> CodecModel:
    """The conformance weights for ``seed`` (random-looking but reproducible anywhere)."""
    cfg = get_config(config) if isinstance(config, str) else config
    intra = fill_synthetic(IntraModel(cfg.intra), seed)
    inter = fill_synthetic(InterModel(cfg.inter), seed)
    return _finish(f"synthetic-{cfg.name}-seed{seed}", cfg, intra, inter)


def load_model(
    intra_path: str | os.PathLike[str],
    inter_path: str | os.PathLike[str],
    config: str | ModelConfig = "dcvc-rt",
    name: str | None = None,
) -> CodecModel:
    """Load a pair of checkpoints (e.g. ``cvpr2025_image.pth.tar`` and ``cvpr2025_video.pth.tar``)."""
    cfg = get_config(config) if isinstance(config, str) else config
    intra = load_into(IntraModel(cfg.intra), read_checkpoint(intra_path), f"{cfg.name} intra model")
    inter = load_into(InterModel(cfg.inter), read_checkpoint(inter_path), f"{cfg.name} inter model")
    return _finish(name or cfg.name, cfg, intra, inter)
