"""The tiny configuration of the DCVC-RT architecture: same code, seconds instead of minutes."""

from nvcodec.models.bundle import CodecModel, synthetic_model
from nvcodec.models.config import TINY

__all__ = ["TINY", "tiny_model"]


def tiny_model(seed: int = 1) -> CodecModel:
    return synthetic_model(seed, TINY)
