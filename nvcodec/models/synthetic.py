"""Seeded synthetic weights: the conformance vectors' weight rule, as library code.

Real checkpoints cannot ship with tests, so conformance is defined on weights
anyone can regenerate from a seed: every tensor is a counter-based
splitmix64 stream keyed by (seed, crc32 of the tensor name), scaled by a rule
that depends only on the name and shape.  Being counter-based, each tensor is
generated independently and in vectorised form.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping

import numpy as np
import torch

_QP_SCALE_NAMES = frozenset({"q_scale_enc", "q_scale_dec", "q_encoder", "q_decoder", "q_feature", "q_recon"})
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def uniform_stream(seed: int, key: str, count: int) -> np.ndarray:
    """``count`` float64 values in [-1, 1) for tensor ``key`` under ``seed``."""
    base = ((seed & 0xFFFFFFFF) << 32) | zlib.crc32(key.encode())
    with np.errstate(over="ignore"):
        counters = np.uint64(base) + np.arange(count, dtype=np.uint64)
    bits = _splitmix64(counters) >> np.uint64(11)
    return bits.astype(np.float64) / float(1 << 53) * 2.0 - 1.0


def synthetic_tensor(seed: int, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """The float32 value of tensor ``key`` under the conformance weight rule."""
    count = math.prod(shape)
    u = uniform_stream(seed, key, count).reshape(shape)
    if key.split(".")[0] in _QP_SCALE_NAMES:
        ramp = np.linspace(1.6, 0.4, shape[0]).reshape((-1,) + (1,) * (len(shape) - 1))
        value = ramp * (1.0 + 0.1 * u)
    elif ".f" in key and key.endswith((".h", ".b", ".a")):
        value = 0.5 * u
    elif key.endswith("bias"):
        value = 0.02 * u
    elif key.endswith("weight") and len(shape) == 4:
        value = u * math.sqrt(3.0) * 0.65 / math.sqrt(shape[1] * shape[2] * shape[3])
    else:
        raise ValueError(f"the synthetic weight rule does not cover tensor {key!r} of shape {shape}")
    return value.astype(np.float32)


def synthetic_state_dict(
    seed: int, layout: Mapping[str, tuple[int, ...]] | Iterable[tuple[str, tuple[int, ...]]]
) -> dict[str, torch.Tensor]:
    """A state dict for ``layout`` (name -> shape), e.g. ``{k: v.shape for k, v in model.state_dict()}``."""
    items = layout.items() if isinstance(layout, Mapping) else layout
    return {key: torch.from_numpy(synthetic_tensor(seed, key, tuple(shape))) for key, shape in items}


def fill_synthetic(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Load the synthetic weights for ``seed`` into ``model`` (strict) and return it."""
    layout = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    model.load_state_dict(synthetic_state_dict(seed, layout), strict=True)
    return model
