"""Loading checkpoints: one funnel for every wrapping quirk, and a model identity.

Published DCVC-RT checkpoints come as a bare state dict, or wrapped in a
``state_dict`` / ``net`` entry, possibly with the ``module.`` prefix that
DataParallel adds.  Checkpoints are untrusted files: they are loaded with
``weights_only=True`` and checked key by key and shape by shape before any
model sees them, so a wrong file gives one clear message.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping

import torch
from torch import nn

from nvcodec.errors import ModelError

#: refuse to even open checkpoint files bigger than this (the published pair is ~270 MB in float32)
MAX_CHECKPOINT_BYTES = 2 << 30


def unwrap_state_dict(obj: object) -> dict[str, torch.Tensor]:
    """The plain name -> tensor mapping inside whatever wrapper the checkpoint uses."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "net"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise ModelError("checkpoint does not contain a state dict")
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ModelError(f"checkpoint entry {key!r} is not a named tensor")
        out[key.removeprefix("module.")] = value
    return out


def load_untrusted(path: str | os.PathLike[str], what: str = "checkpoint") -> object:
    """``torch.load`` for files from outside: size-checked, ``weights_only``, one clear error.

    Every file nvc reads weights from (checkpoints, model files, training runs)
    goes through here, so the defences live in one place.
    """
    name = os.fspath(path)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ModelError(f"cannot read {what} {name!r}: {exc.strerror}") from None
    if size > MAX_CHECKPOINT_BYTES:
        raise ModelError(f"{what} {name!r} is {size} bytes, above the {MAX_CHECKPOINT_BYTES} limit")
    try:
        with warnings.catch_warnings():
            # torch warns about a pickle it is about to refuse; the refusal below says it in one line
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ModelError(f"{name!r} is not a loadable {what}: {exc}") from None


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Load a checkpoint file safely and unwrap it."""
    return unwrap_state_dict(load_untrusted(path))


def check_state_dict(state: object, what: str = "model") -> Mapping[str, torch.Tensor]:
    """``state`` as a state dict a model may take: names to dense real tensors, nothing else.

    A file can carry any picklable tensor type through ``weights_only``; a sparse, quantized,
    complex or meta tensor, or a plain number, would only fail later inside a network (or worse,
    not fail), so each value's kind is checked before any model sees it.
    """
    if not isinstance(state, Mapping) or not state:
        raise ModelError(f"the {what} is not a non-empty table of named tensors")
    for key, value in state.items():
        if not isinstance(key, str) or not key.isprintable() or len(key) > 256:
            raise ModelError(f"the {what} has an entry whose name is not a short string: {str(key)[:40]!r}")
        if not isinstance(value, torch.Tensor):
            raise ModelError(f"the {what}'s entry {key!r} is a {type(value).__name__}, not a tensor")
        if value.layout != torch.strided or value.is_quantized or value.is_meta:
            raise ModelError(f"the {what}'s entry {key!r} is not a dense tensor ({value.layout})")
        if value.is_complex() or not (value.is_floating_point() or value.dtype in (torch.int64, torch.int32)):
            raise ModelError(f"the {what}'s entry {key!r} has dtype {value.dtype}, not a real number type")
    return state


def load_into(model: nn.Module, state: Mapping[str, torch.Tensor], what: str = "model") -> nn.Module:
    """``load_state_dict(strict=True)`` with a readable account of any mismatch."""
    state = check_state_dict(state, what)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in expected if k in state and tuple(state[k].shape) != expected[k])
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} with wrong shapes (e.g. {k}: {tuple(state[k].shape)}, expected {expected[k]})")
        raise ModelError(f"checkpoint does not fit the {what}: " + "; ".join(parts))
    model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)
    return model


def state_sha256(*states: Mapping[str, torch.Tensor]) -> str:
    """A content hash of one or more state dicts (names, shapes, float32 bytes), order independent.

    Streams name the model that coded them by this hash, so it must not depend
    on how the weights were stored (float16 on disk, wrappers, prefixes).
    """
    digest = hashlib.sha256()
    for state in states:
        for key in sorted(state):
            tensor = state[key].detach().to("cpu", torch.float32).contiguous()
            digest.update(key.encode())
            digest.update(repr(tuple(tensor.shape)).encode())
            digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()
