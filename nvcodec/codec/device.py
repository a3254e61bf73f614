"""The one place that decides where the networks run."""

from __future__ import annotations

from typing import Literal

import torch

from nvcodec.errors import ConfigError

DeviceChoice = Literal["auto", "cpu", "cuda"]


def resolve_device(choice: str = "auto") -> torch.device:
    """``auto`` takes CUDA when torch sees a GPU, else the CPU."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device", choice, "CUDA was asked for but torch sees no GPU")
        return torch.device(choice)
    raise ConfigError("device", choice, "auto, cpu or cuda")
