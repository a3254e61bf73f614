"""Turning a training checkpoint into shippable weights.

Shipped weights are float16 on disk; the model nvc runs is those values in
float32.  Exporting therefore rounds once, reloads, and reports the sha256 of
exactly what decoders will use, which is what the registry records.
"""

from __future__ import annotations

import os
from pathlib import Path

from nvcodec.errors import ModelError
from nvcodec.models.bundle import _finish
from nvcodec.models.checkpoint import load_into, load_untrusted
from nvcodec.models.config import get_config
from nvcodec.models.inter import InterModel
from nvcodec.models.intra import IntraModel
from nvcodec.models.registry import load_model_file, save_model_file


def export_weights(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], name: str) -> str:
    """Write ``out`` (an nvc model file) from a training checkpoint; return the registry sha256."""
    state = load_untrusted(checkpoint, "training checkpoint")
    if not isinstance(state, dict) or state.get("format") != "nvc-train-1":
        raise ModelError(f"{checkpoint} is not an nvc training checkpoint")
    cfg = get_config(state["config"])
    intra = load_into(IntraModel(cfg.intra), state["intra"], "intra model")
    inter = load_into(InterModel(cfg.inter), state["inter"], "inter model")
    out = Path(out)
    tmp = out.with_suffix(out.suffix + ".tmp")
    save_model_file(_finish(name, cfg, intra, inter), tmp, half=True)
    os.replace(tmp, out)
    return load_model_file(out, name=name).sha256
