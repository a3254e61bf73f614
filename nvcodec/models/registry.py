"""Models nvc knows by name, and the one funnel that turns a ``--model`` value into a model.

A model spec is one of:

* a registered name (``nvc-compact``, the shipped default; ``nvc models`` lists them);
* ``synthetic:<config>:<seed>``: the seeded conformance weights (tests, benchmarks);
* a path to an nvc model file (:func:`save_model_file`), or ``INTRA.pth,INTER.pth`` for a
  pair of DCVC-RT checkpoints (the published ``cvpr2025_*.pth.tar`` files).

Shipped weights are stored as float16 (half the size; loaded to float32) and
registered with the sha256 of the loaded float32 weights, which is also what
streams record to name the model that coded them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from nvcodec.errors import ModelError
from nvcodec.models.bundle import CodecModel, _finish, load_model, synthetic_model
from nvcodec.models.catalog import DEFAULT_MODEL, REGISTRY, ModelInfo, find_model, list_models, packaged_path
from nvcodec.models.checkpoint import load_into, load_untrusted
from nvcodec.models.config import get_config
from nvcodec.models.inter import InterModel
from nvcodec.models.intra import IntraModel
from nvcodec.models.lambdas import LAMBDA_MAX_NARROW, check_lambda_max

FORMAT_TAG = "nvc-model-1"
__all__ = ["DEFAULT_MODEL", "REGISTRY", "FORMAT_TAG", "ModelInfo", "list_models", "load_model_file", "resolve_model",
           "resolve_stream_model", "save_model_file"]


def save_model_file(model: CodecModel, path: str | os.PathLike[str], half: bool = True) -> None:
    """Write ``model`` as one nvc model file (config name + both state dicts)."""
    def pack(sd):
        return {k: v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu()
                for k, v in sd.items()}

    torch.save(
        {"format": FORMAT_TAG, "name": model.name, "config": model.config.name, "lambda_max": model.lambda_max,
         "intra": pack(model.intra.state_dict()), "inter": pack(model.inter.state_dict())},
        path,
    )


def load_model_file(path: str | os.PathLike[str], name: str | None = None) -> CodecModel:
    """Load an nvc model file defensively (size limit, ``weights_only``, strict shapes)."""
    path = Path(path)
    obj = load_untrusted(path, "nvc model file")
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_TAG:
        raise ModelError(f"{str(path)!r} is not an nvc model file (format tag missing)")
    config_name, name_in_file = obj.get("config"), obj.get("name", "")
    if not isinstance(config_name, str) or not isinstance(name_in_file, str) or len(name_in_file) > 255:
        raise ModelError(f"{str(path)!r} is not an nvc model file (its config or name is not a short string)")
    config = get_config(config_name)
    intra = load_into(IntraModel(config.intra), obj.get("intra"), f"{config.name} intra model")
    inter = load_into(InterModel(config.inter), obj.get("inter"), f"{config.name} inter model")
    try:  # absent from files written before it was recorded: those were trained at the narrow curve
        lambda_max = check_lambda_max(obj.get("lambda_max", LAMBDA_MAX_NARROW))
    except ValueError as exc:
        raise ModelError(f"{str(path)!r}: {exc}") from None
    return _finish(name or name_in_file or path.stem, config, intra, inter, lambda_max)


def resolve_stream_model(name: str) -> CodecModel:
    """The model a stream names, looked up among the shipped and the synthetic models only.

    The name comes from an untrusted file, so it never becomes a path: a stream coded with weights
    from a file decodes only when the user passes that file (``--model``), whose hash must match.
    """
    if find_model(name) is not None:
        return resolve_model(name)
    m = re.fullmatch(r"synthetic-([a-z0-9][a-z0-9-]{0,63})-seed(\d{1,9})", name)
    if m is not None:
        return synthetic_model(int(m.group(2)), m.group(1))
    shown = name if name.isprintable() and len(name) <= 80 else repr(name[:80])
    raise ModelError(f"the stream names model {shown!r}, which is not a model nvc ships: decode it with "
                     f"--model FILE, the weights it was coded with")


def resolve_model(spec: str | None = None) -> CodecModel:
    """The model a ``--model`` value names (default: the shipped default model)."""
    spec = spec or DEFAULT_MODEL
    for info in REGISTRY:
        if spec == info.name:
            model = load_model_file(packaged_path(info), name=info.name)
            if model.sha256 != info.sha256:
                raise ModelError(f"shipped weights of {info.name} do not match their registered sha256")
            return model
    if spec.startswith("synthetic:"):
        parts = spec.split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            raise ModelError(f"synthetic model spec must be synthetic:<config>:<seed>, got {spec!r}")
        return synthetic_model(int(parts[2]), parts[1])
    if "," in spec:
        intra_path, inter_path = spec.split(",", 1)
        return load_model(intra_path, inter_path)
    if os.path.exists(spec):
        return load_model_file(spec)
    known = ", ".join(i.name for i in REGISTRY) or "none shipped yet"
    raise ModelError(f"unknown model {spec!r} (registered: {known}; or synthetic:<config>:<seed>, or a file)")
