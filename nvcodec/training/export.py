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
from nvcodec.models.lambdas import LAMBDA_MAX_NARROW, check_lambda_max
from nvcodec.models.registry import load_model_file, save_model_file


def _read_checkpoint(path: str | os.PathLike[str]) -> dict:
    state = load_untrusted(path, "training checkpoint")
    if not isinstance(state, dict) or state.get("format") != "nvc-train-1":
        raise ModelError(f"{path} is not an nvc training checkpoint")
    return state


def export_weights(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], name: str,
                   intra_from: str | os.PathLike[str] | None = None) -> str:
    """Write ``out`` (an nvc model file) from a training checkpoint; return the registry sha256.

    ``intra_from`` takes the intra model from another checkpoint.  Intra stages never read the
    inter model, so an intra stage run beside an inter stage (one per core) and merged here gives
    the model that running them one after the other would.
    """
    state = _read_checkpoint(checkpoint)
    cfg = get_config(state["config"])
    intra_state = state["intra"]
    if intra_from is not None:
        other = _read_checkpoint(intra_from)
        if get_config(other["config"]).intra != cfg.intra:
            raise ModelError(f"{intra_from} has an intra model of another shape (config {other['config']}) "
                             f"than {checkpoint} (config {state['config']})")
        intra_state = other["intra"]
    intra = load_into(IntraModel(cfg.intra), intra_state, "intra model")
    inter = load_into(InterModel(cfg.inter), state["inter"], "inter model")
    out = Path(out)
    tmp = out.with_suffix(out.suffix + ".tmp")
    lambda_max = check_lambda_max(state.get("lambda_max", LAMBDA_MAX_NARROW))
    save_model_file(_finish(name, cfg, intra, inter, lambda_max), tmp, half=True)
    os.replace(tmp, out)
    return load_model_file(out, name=name).sha256
