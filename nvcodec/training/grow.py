"""Growing a trained model into a wider config without changing what it computes.

Training on two CPU cores is slow, so a capacity change must not throw the
trained weights away.  A grown model starts as the same function as the model
it came from (Net2Net-style): every new channel is computed from the old ones
with fresh weights, but nothing old reads from it, and the layer that turns it
into pixels starts at zero.  Gradients reach the new channels from the first
step (the zero read-out weights see non-zero inputs), so training then uses the
extra width.

What can grow is what the recipe needs: the inter model's reconstruction
network (``InterConfig.recon``), which in the compact config confines every
decoded 8x8 block of a P frame to a fixed affine subspace of ``recon``
dimensions: too few for the 96 that a 4:2:0 block has.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from nvcodec.errors import ModelError
from nvcodec.models.bundle import CodecModel
from nvcodec.models.config import ModelConfig
from nvcodec.models.inter import InterModel
from nvcodec.models.layers import DepthConvBlock

#: new channels start from the layers' default initialisation times this, so they begin small
NEW_CHANNEL_GAIN = 0.1


def grow_model(model: CodecModel, target: ModelConfig) -> CodecModel:
    """``model`` in the wider ``target`` config, computing the same outputs (up to float rounding)."""
    old = model.config
    if target.intra != old.intra:
        raise ModelError(f"cannot grow {old.name} into {target.name}: the intra model differs")
    if dataclasses.replace(target.inter, recon=old.inter.recon) != old.inter:
        raise ModelError(f"cannot grow {old.name} into {target.name}: only the inter recon width may change")
    if target.inter.recon < old.inter.recon:
        raise ModelError(f"cannot grow {old.name} into {target.name}: the recon width would shrink")
    inter = InterModel(target.inter).to(model.device)
    with torch.no_grad():
        _copy_matching(model.inter, inter)
        _grow_recon(model.inter, inter)
    return CodecModel(f"{target.name}-training", target, model.intra, inter, sha256="")


def _copy_matching(src: nn.Module, dst: nn.Module) -> None:
    """Copy every parameter whose name and shape are unchanged; the recon network is grown apart."""
    src_state = src.state_dict()
    for name, tensor in dst.state_dict().items():
        if name in src_state and src_state[name].shape == tensor.shape:
            tensor.copy_(src_state[name])


def _grow_recon(src: InterModel, dst: InterModel) -> None:
    old_width = src.cfg.recon
    for old_block, new_block in zip(src.recon_generation_net.conv, dst.recon_generation_net.conv, strict=True):
        _grow_block(old_block, new_block)
    head_old, head_new = src.recon_generation_net.head, dst.recon_generation_net.head
    head_new.weight.zero_()
    head_new.weight[:, :old_width] = head_old.weight
    head_new.bias.copy_(head_old.bias)
    dst.q_recon.fill_(1.0)
    dst.q_recon[:, :old_width] = src.q_recon


def _grow_block(old: DepthConvBlock, new: DepthConvBlock) -> None:
    """Widen a DepthConvBlock: old output channels keep their values, new ones read everything."""
    in_old = old.adaptor.in_channels if old.adaptor is not None else old.dc[0].in_channels
    n = old.dc[0].out_channels
    if new.adaptor is not None:
        if old.adaptor is not None:
            _embed_conv(old.adaptor, new.adaptor, n, in_old)
        else:
            # the old block had no adaptor (input width = width): identity on the old channels
            _scale_(new.adaptor)
            new.adaptor.weight[:n] = 0.0
            new.adaptor.weight[:n, :in_old] = torch.eye(n).reshape(n, n, 1, 1)
            new.adaptor.bias[:n] = 0.0
    elif old.adaptor is not None:
        raise ModelError("cannot grow a block that loses its adaptor")
    _embed_conv(old.dc[0], new.dc[0], n, n)
    _embed_conv(old.dc[2], new.dc[2], n, 1)  # depthwise: one input per group
    _embed_conv(old.dc[3], new.dc[3], n, n)
    # ffn.0 feeds WSiLUChunkAdd, which adds its output's first half to its second half:
    # old hidden unit j is ffn.0 rows j and 2n + j; in the wide block, rows j and 2N + j
    wide = new.dc[0].out_channels
    f_old, f_new = old.ffn[0], new.ffn[0]
    _scale_(f_new)
    for half in range(2):
        rows_old = slice(half * 2 * n, half * 2 * n + 2 * n)
        rows_new = slice(half * 2 * wide, half * 2 * wide + 2 * n)
        f_new.weight[rows_new] = 0.0
        f_new.weight[rows_new, :n] = f_old.weight[rows_old]
        f_new.bias[rows_new] = f_old.bias[rows_old]
    _embed_conv(old.ffn[2], new.ffn[2], n, 2 * n)


def _embed_conv(old: nn.Conv2d, new: nn.Conv2d, rows: int, cols: int) -> None:
    """Old weights in the top-left corner; old rows ignore the new inputs; new rows start small."""
    _scale_(new)
    new.weight[:rows] = 0.0
    new.weight[:rows, :cols] = old.weight
    new.bias[:rows] = old.bias


def _scale_(conv: nn.Conv2d) -> None:
    conv.weight.mul_(NEW_CHANNEL_GAIN)
    conv.bias.mul_(NEW_CHANNEL_GAIN)
