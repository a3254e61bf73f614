"""Growing a trained model into a wider config without changing what it computes.

Training on two CPU cores is slow, so a capacity change must not throw the
trained weights away.  A grown model starts as the same function as the model
it came from (Net2Net-style): every new channel is computed from the old ones
with fresh weights, but nothing old reads from it, and the layer that turns it
into pixels starts at zero.  Gradients reach the new channels from the first
step (the zero read-out weights see non-zero inputs), so training then uses the
extra width.  Stacks of blocks can grow deeper the same way: a block appended to a
stack starts as the identity.

What can grow is what the recipe needs: the inter model's reconstruction
network (``InterConfig.recon``), which in the compact config confined every
decoded 8x8 block of a P frame to a fixed affine subspace of ``recon``
dimensions, its feature path (``InterConfig.feature``), through which
the P frame sees its reference and from which it is decoded, and the
encoder's view of the frame being coded (``InterConfig.encoder_view``), and a
reference skip (``InterConfig.reference_skip``), whose gate starts closed (the
lineage: :mod:`nvcodec.training.lineage`).  The P-frame latent
(``InterConfig.latent``) and the depth of the stacks can grow as well.
The encoder's new view rows are not random: they are the directions of an
8x8 block that natural images fill most (a 1/f^2 spectrum) among those the
old rows cannot see, so the first gradient steps already have the missing
detail to learn from.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from nvcodec.errors import ModelError
from nvcodec.models.bundle import CodecModel
from nvcodec.models.config import ModelConfig
from nvcodec.models.inter import PIXEL_CHANNELS, InterModel
from nvcodec.models.intra import IntraModel
from nvcodec.models.layers import DepthConvBlock

#: new channels start from the layers' default initialisation times this, so they begin small
NEW_CHANNEL_GAIN = 0.1
#: InterConfig widths that can grow
GROWABLE_WIDTHS = ("recon", "feature", "encoder_view", "latent")
#: InterConfig block counts that can grow: a stack gains blocks at its end, each starting as the identity
GROWABLE_DEPTHS = ("extractor_conv1_blocks", "extractor_conv2_blocks", "encoder_conv2_blocks",
                   "decoder_conv1_blocks", "recon_blocks")
#: InterConfig skips that can be added: each gate starts closed
GROWABLE_SKIPS = ("reference_skip",)
#: IntraConfig widths that can grow: the latent (coded in four spatial-context quarters) and the
#: 1/8-resolution feature domain of the analysis and synthesis transforms
GROWABLE_INTRA_WIDTHS = ("latent", "feature")
#: IntraConfig block counts that can grow (identity blocks appended)
GROWABLE_INTRA_DEPTHS = ("enc_blocks", "dec_blocks")


def grow_model(model: CodecModel, target: ModelConfig) -> CodecModel:
    """``model`` in the wider ``target`` config, computing the same outputs (up to float rounding)."""
    old = model.config
    intra = _grown_intra(model, target) if target.intra != old.intra else model.intra
    if target.inter == old.inter:
        return CodecModel(f"{target.name}-training", target, intra, model.inter, sha256="")
    kept = {f: getattr(old.inter, f) for f in (*GROWABLE_WIDTHS, *GROWABLE_DEPTHS, *GROWABLE_SKIPS)}
    if dataclasses.replace(target.inter, **kept) != old.inter:
        raise ModelError(f"cannot grow {old.name} into {target.name}: only the inter recon, feature, encoder "
                         "view and latent widths, the block counts of its stacks and the skips may change")
    if (target.inter.recon < old.inter.recon or target.inter.feature < old.inter.feature
            or target.inter.view < old.inter.view or target.inter.latent < old.inter.latent
            or any(getattr(old.inter, f) > getattr(target.inter, f) for f in GROWABLE_SKIPS)):
        raise ModelError(f"cannot grow {old.name} into {target.name}: a width would shrink")
    if any(getattr(target.inter, f) < getattr(old.inter, f) for f in GROWABLE_DEPTHS):
        raise ModelError(f"cannot grow {old.name} into {target.name}: a stack would lose blocks")
    inter = InterModel(target.inter).to(model.device)
    with torch.no_grad():
        _copy_matching(model.inter, inter)
        _grow_inter(model.inter, inter)
    return CodecModel(f"{target.name}-training", target, intra, inter, sha256="")


def _grown_intra(model: CodecModel, target: ModelConfig) -> IntraModel:
    """The intra model of ``model`` grown into ``target.intra`` (same outputs, see :func:`_grow_intra`)."""
    old, new = model.config.intra, target.intra
    kept = {f: getattr(old, f) for f in (*GROWABLE_INTRA_WIDTHS, *GROWABLE_INTRA_DEPTHS)}
    if dataclasses.replace(new, **kept) != old:
        raise ModelError(f"cannot grow {model.config.name} into {target.name}: of the intra model only the "
                         "latent and feature widths and the encoder and decoder depths may change")
    if any(getattr(new, f) < getattr(old, f) for f in (*GROWABLE_INTRA_WIDTHS, *GROWABLE_INTRA_DEPTHS)):
        raise ModelError(f"cannot grow {model.config.name} into {target.name}: an intra width or depth would "
                         "shrink")
    intra = IntraModel(new).to(model.device)
    with torch.no_grad():
        _copy_matching(model.intra, intra)
        _grow_intra(model.intra, intra)
    return intra


def _copy_matching(src: nn.Module, dst: nn.Module) -> None:
    """Copy every parameter whose name and shape are unchanged; the grown layers are rebuilt apart."""
    src_state = src.state_dict()
    for name, tensor in dst.state_dict().items():
        if name in src_state and src_state[name].shape == tensor.shape:
            tensor.copy_(src_state[name])


# A channel map says where each old channel of a tensor sits in the grown one (the new channels are
# the rest).  Widths grow by appending, so a tensor's map is arange(old width), and a concatenation's
# map is its parts' maps with the later parts shifted by the grown widths before them.


def _prefix(n: int) -> torch.Tensor:
    return torch.arange(n)


def _cat(*parts: tuple[torch.Tensor, int]) -> torch.Tensor:
    """The map of a concatenation of (map, grown width) parts."""
    out, offset = [], 0
    for channel_map, width in parts:
        out.append(channel_map + offset)
        offset += width
    return torch.cat(out)


def _grow_inter(src: InterModel, dst: InterModel) -> None:
    od, nd = src.cfg.feature, dst.cfg.feature
    d_map = _prefix(od)
    pixels = _prefix(PIXEL_CHANNELS)
    d_pair = _cat((d_map, nd), (d_map, nd))  # cat((feature, ctx)) of two d-wide tensors
    _grow_block(src.feature_adaptor_i, dst.feature_adaptor_i, pixels, d_map)
    _grow_conv(src.feature_adaptor_p, dst.feature_adaptor_p, d_map, d_map)
    for group in ("conv1", "conv2"):
        _grow_stack(getattr(src.feature_extractor, group), getattr(dst.feature_extractor, group), d_map, d_map)
    view_map = _prefix(src.cfg.view)
    _grow_conv(src.encoder.conv1, dst.encoder.conv1, pixels, view_map)
    _unseen_rows_(dst.encoder.conv1, src.cfg.view)
    _grow_stack(src.encoder.conv2, dst.encoder.conv2, _cat((view_map, dst.cfg.view), (d_map, nd)), d_map)
    _grow_block(src.encoder.conv3, dst.encoder.conv3, d_map, d_map)
    y_map = _latent_map(src.cfg.latent, dst.cfg.latent)
    _grow_conv(src.encoder.down, dst.encoder.down, d_map, y_map)
    # the sub-pixel convolution's output channel c * 4 + s becomes pixel s of channel c
    _grow_conv(src.decoder.up.conv[0], dst.decoder.up.conv[0], y_map, _prefix(4 * od))
    _grow_stack(src.decoder.conv1, dst.decoder.conv1, d_pair, d_map)
    _grow_conv(src.decoder.conv2, dst.decoder.conv2, d_map, d_map)
    _grow_conv(src.temporal_prior_encoder.down, dst.temporal_prior_encoder.down, d_map,
               _prefix(2 * src.cfg.latent))
    if dst.cfg.latent != src.cfg.latent:
        _grow_entropy_model(src, dst, y_map)
    recon_map = _prefix(src.cfg.recon)
    _grow_stack(src.recon_generation_net.conv, dst.recon_generation_net.conv, d_map, recon_map)
    _grow_conv(src.recon_generation_net.head, dst.recon_generation_net.head, recon_map, pixels, silent_inputs=True)
    _grow_gate(src.recon_generation_net.gate, dst.recon_generation_net.gate, recon_map, pixels)
    for name in ("q_encoder", "q_decoder", "q_feature", "q_recon"):
        old_q, new_q = getattr(src, name), getattr(dst, name)
        new_q.fill_(1.0)
        new_q[:, : old_q.shape[1]] = old_q


def _grow_intra(src: IntraModel, dst: IntraModel) -> None:
    """Widen the I-frame transforms and their prior.

    The latent was what held the compact intra model's quality range down: 128 values per 16x16
    block of 4:2:0 video, which has 384 samples there, and with the latent left unrounded qp 63 still
    stopped at 34-36 dB on the development stills (bench/probes/probe_intra_ceiling.py).

    New latent channels start at exactly zero (zero analysis rows, zero prior means, prior scales at
    their floor), so they cost no coded bits and decode to zero, and everything that reads them may
    read them with fresh weights without changing a picture: the synthesis, the spatial prior and
    the hyperprior's analysis all do.  That is what lets them learn: a zero channel read through
    non-zero weights gets a gradient from the picture's error at once.  (Starting them instead as
    random projections read by zero weights cost 68 % more bits at qp 63 on a still, and 2,000
    steps later the validation loss was still 2-4 % above the model the growth started from.)
    """
    of, nf = src.cfg.feature, dst.cfg.feature
    oy, ny = src.cfg.latent, dst.cfg.latent
    f_map = _prefix(of)
    pixels = _prefix(PIXEL_CHANNELS)
    y_map = _quarter_map(oy, ny)
    z_map = _prefix(src.cfg.hyper)
    _grow_block(src.enc.enc_1, dst.enc.enc_1, pixels, f_map)
    _grow_stack(src.enc.enc_2[:-1], dst.enc.enc_2[:-1], f_map, f_map)
    _grow_conv(src.enc.enc_2[-1], dst.enc.enc_2[-1], f_map, y_map)
    fresh = _complement(y_map, ny)
    _zero_rows_(dst.enc.enc_2[-1], fresh)
    _grow_block(src.hyper_enc[0], dst.hyper_enc[0], y_map, z_map)
    _read_fresh_(dst.hyper_enc[0].adaptor, fresh)
    _grow_block(src.hyper_dec[-1], dst.hyper_dec[-1], z_map, y_map)
    # y_prior_fusion: [q maps (2) | scales | means], per latent channel in the latent's layout
    fusion_hidden = _prefix(2 * oy)
    _grow_stack(src.y_prior_fusion[:-1], dst.y_prior_fusion[:-1], y_map, fusion_hidden)
    params_map = _cat((_prefix(2), 2), (y_map, ny), (y_map, ny))
    _grow_conv(src.y_prior_fusion[-1], dst.y_prior_fusion[-1], fusion_hidden, params_map)
    _fresh_prior_(dst.y_prior_fusion[-1], 2, ny, fresh)
    common = _prefix(oy)  # the spatial prior's own summary of the params, read only by its adaptors
    _grow_conv(src.y_spatial_prior_reduction, dst.y_spatial_prior_reduction, params_map, common)
    spatial_in = _cat((y_map, ny), (common, ny))  # cat((y_hat so far, common))
    spatial_hidden = _prefix(2 * oy)
    for name in ("y_spatial_prior_adaptor_1", "y_spatial_prior_adaptor_2", "y_spatial_prior_adaptor_3"):
        _grow_block(getattr(src, name), getattr(dst, name), spatial_in, spatial_hidden)
        _read_fresh_(getattr(dst, name).adaptor, torch.cat((fresh, torch.zeros(ny, dtype=torch.bool))))
    _grow_stack(src.y_spatial_prior[:-1], dst.y_spatial_prior[:-1], spatial_hidden, spatial_hidden)
    _grow_conv(src.y_spatial_prior[-1], dst.y_spatial_prior[-1], spatial_hidden, _cat((y_map, ny), (y_map, ny)))
    _fresh_prior_(dst.y_spatial_prior[-1], 0, ny, fresh)
    # the sub-pixel convolution's output channel c * 4 + s becomes pixel s of feature channel c
    _grow_conv(src.dec.dec_1[0].up.conv[0], dst.dec.dec_1[0].up.conv[0], y_map, _prefix(4 * of))
    _read_fresh_(dst.dec.dec_1[0].up.conv[0], fresh)
    _grow_block(src.dec.dec_1[0].conv, dst.dec.dec_1[0].conv, f_map, f_map)
    _grow_stack(src.dec.dec_1[1:], dst.dec.dec_1[1:], f_map, f_map)
    _grow_block(src.dec.dec_2, dst.dec.dec_2, f_map, pixels)
    if nf != of:
        # the last block turns features into pixels: its adaptor reads the new features with zeros
        dst.dec.dec_2.adaptor.weight[:, of:] = 0.0
    for name in ("q_scale_enc", "q_scale_dec"):
        old_q, new_q = getattr(src, name), getattr(dst, name)
        new_q.fill_(1.0)
        new_q[:, :of] = old_q


def _quarter_map(old: int, new: int) -> torch.Tensor:
    """The I-frame latent is coded in four spatial-context quarters (``entropy.context.masks_4step``),
    so each quarter grows at its own end."""
    quarter = _prefix(old // 4)
    return _cat(*[(quarter, new // 4)] * 4)


def _complement(kept: torch.Tensor, width: int) -> torch.Tensor:
    """A [width] bool mask of the channels a map does not hold (the new ones)."""
    fresh = torch.ones(width, dtype=torch.bool)
    fresh[kept] = False
    return fresh


def _zero_rows_(conv: nn.Conv2d, rows: torch.Tensor) -> None:
    conv.weight[rows] = 0.0
    if conv.bias is not None:
        conv.bias[rows] = 0.0


def _read_fresh_(conv: nn.Conv2d, columns: torch.Tensor) -> None:
    """Every output reads the (zero) input channels ``columns`` with fresh small weights: nothing
    changes while they are zero, and the first gradient reaches them."""
    if not columns.any():
        return
    fresh = torch.empty_like(conv.weight[:, columns])
    nn.init.kaiming_uniform_(fresh, a=5**0.5)
    conv.weight[:, columns] = fresh * NEW_CHANNEL_GAIN


def _fresh_prior_(conv: nn.Conv2d, offset: int, new: int, fresh: torch.Tensor) -> None:
    """The prior of new latent channels (``offset``: where the scale rows start, means follow): means
    exactly zero, so the channels decode to zero; scales with no bias, so they start at the floor
    and a zero costs next to nothing."""
    scales = torch.zeros(conv.out_channels, dtype=torch.bool)
    means = torch.zeros(conv.out_channels, dtype=torch.bool)
    scales[offset: offset + new] = fresh
    means[offset + new: offset + 2 * new] = fresh
    _zero_rows_(conv, means)
    if conv.bias is not None:
        conv.bias[scales] = 0.0


def _latent_map(old: int, new: int) -> torch.Tensor:
    """The latent is coded in two spatial-context halves (``entropy.context.masks_2step``), so each
    half grows at its own end: old channel c of the second half moves from old // 2 + c to new // 2 + c."""
    half = _prefix(old // 2)
    return _cat((half, new // 2), (half, new // 2))


def _grow_entropy_model(src: InterModel, dst: InterModel, y_map: torch.Tensor) -> None:
    """The networks whose inputs or outputs are latent-wide: the hyperprior's ends, the temporal prior
    and both prior networks.  Their outputs per latent channel ([quant step | scales | means], then
    [scales | means]) follow the latent's own layout; their hidden widths grow at the end."""
    oy, ny = src.cfg.latent, dst.cfg.latent
    z_map = _prefix(src.cfg.hyper)
    _grow_block(src.hyper_encoder.conv[0], dst.hyper_encoder.conv[0], y_map, z_map)
    _grow_block(src.hyper_decoder.conv[-1], dst.hyper_decoder.conv[-1], z_map, y_map)
    temporal = _prefix(2 * oy)  # private to the fusion network that reads it
    _grow_block(src.temporal_prior_encoder.conv, dst.temporal_prior_encoder.conv, temporal, temporal)
    per_latent = [(y_map, ny)]
    fusion_in = _cat(*per_latent, (temporal, 2 * ny))  # cat((hyper, temporal)); its first block keeps the width
    _grow_stack(src.y_prior_fusion.conv[:-1], dst.y_prior_fusion.conv[:-1], fusion_in, fusion_in)
    _grow_conv(src.y_prior_fusion.conv[-1], dst.y_prior_fusion.conv[-1], fusion_in, _cat(*per_latent * 3))
    hidden = _prefix(3 * oy)
    _grow_stack(src.y_spatial_prior.conv[:-1], dst.y_spatial_prior.conv[:-1], _cat(*per_latent * 4), hidden)
    _grow_conv(src.y_spatial_prior.conv[-1], dst.y_spatial_prior.conv[-1], hidden, _cat(*per_latent * 2))


def _grow_gate(old: nn.Conv2d | None, new: nn.Conv2d | None, in_map: torch.Tensor, out_map: torch.Tensor) -> None:
    """The pixel gate: a new one starts closed, so the model computes what it did and the gate's
    gradient (hidden state times reference times output error) opens it; a grown one keeps its old
    rows and leaves the new channels closed."""
    if new is None:
        return
    if old is None:
        new.weight.zero_()
        new.bias.zero_()
    else:
        _grow_conv(old, new, in_map, out_map, silent_inputs=True)


def block_spectrum_prior(size: int = 8, channels: int = 3, chroma_weight: float = 0.5) -> torch.Tensor:
    """Covariance of a ``channels`` x ``size`` x ``size`` block (pixel_unshuffle order) under a 1/f^2 spectrum.

    Each channel's 2-D DCT basis functions are independent with variance 1 / (1 + u^2 + v^2), chroma
    scaled by ``chroma_weight``: a data-free stand-in for the blocks' PCA, which for natural images
    is close to the DCT with that fall-off.
    """
    n = torch.arange(size, dtype=torch.float64)
    dct = torch.cos(torch.pi * (n[None, :] + 0.5) * n[:, None] / size)  # [frequency, position]
    dct = dct / dct.norm(dim=1, keepdim=True)
    basis = torch.einsum("ux,vy->uvxy", dct, dct).reshape(size * size, size * size)  # [(u,v), (x,y)]
    freq = n[:, None] ** 2 + n[None, :] ** 2
    variance = (1.0 / (1.0 + freq)).reshape(-1)
    per_channel = basis.T @ torch.diag(variance) @ basis
    weights = [1.0] + [chroma_weight] * (channels - 1)
    return torch.block_diag(*(w * per_channel for w in weights))


def _unseen_rows_(conv: nn.Conv2d, seen: int) -> None:
    """Rows ``seen:`` of a pixel projection become the strongest prior directions rows ``:seen`` miss.

    They start with the old rows' mean norm and no bias; nothing reads them yet (the next layer's
    weights on them are zero), so the function is unchanged.
    """
    new = conv.out_channels - seen
    if new <= 0:
        return
    weight = conv.weight[:, :, 0, 0].double()
    old = weight[:seen]
    q, _ = torch.linalg.qr(old.T)  # orthonormal basis of what the old rows see
    outside = torch.eye(weight.shape[1], dtype=torch.float64) - q @ q.T
    prior = block_spectrum_prior()
    values, vectors = torch.linalg.eigh(outside @ prior @ outside)
    rows = vectors[:, values.argsort(descending=True)[:new]].T
    conv.weight[seen:, :, 0, 0] = (rows * old.norm(dim=1).mean()).to(conv.weight.dtype)
    if conv.bias is not None:
        conv.bias[seen:] = 0.0


def _grow_stack(old: nn.Sequential, new: nn.Sequential, in_map: torch.Tensor, width_map: torch.Tensor) -> None:
    """Widen the old blocks; blocks the stack gains at its end start as the identity."""
    for i, (old_block, new_block) in enumerate(zip(old, new[: len(old)], strict=True)):
        _grow_block(old_block, new_block, in_map if i == 0 else width_map, width_map)
    for block in new[len(old):]:
        _identity_block_(block)


def _identity_block_(block: DepthConvBlock) -> None:
    """A residual block whose two branches end in zeros passes its input through exactly.

    Its inner layers keep their default initialisation, so once the zero read-outs move (their
    gradient is the block's input times the error) the whole block learns; a depth added this way
    costs nothing the model could already do, as new channels do in a widening.
    """
    if block.adaptor is not None:
        raise ModelError("a block added to a stack must keep its width")
    for last in (block.dc[3], block.ffn[2]):
        last.weight.zero_()
        last.bias.zero_()


def _grow_block(old: DepthConvBlock, new: DepthConvBlock, in_map: torch.Tensor, width_map: torch.Tensor) -> None:
    """Widen a DepthConvBlock: old output channels keep their values, new ones read everything."""
    if new.adaptor is not None:
        if old.adaptor is not None:
            _grow_conv(old.adaptor, new.adaptor, in_map, width_map)
        else:
            # the old block had no adaptor (input width = width): identity on the old channels
            _scale_(new.adaptor)
            new.adaptor.weight[width_map] = 0.0
            new.adaptor.weight[width_map, in_map] = 1.0
            new.adaptor.bias[width_map] = 0.0
    elif old.adaptor is not None:
        raise ModelError("cannot grow a block that loses its adaptor")
    _grow_conv(old.dc[0], new.dc[0], width_map, width_map)
    _grow_conv(old.dc[2], new.dc[2], _prefix(1), width_map)  # depthwise: one input per group
    _grow_conv(old.dc[3], new.dc[3], width_map, width_map)
    # ffn.0 feeds WSiLUChunkAdd, which adds its output's first half to its second half: old hidden
    # unit j is ffn.0 rows j and h + j (h: the old half width); in the wide block, rows j and H + j
    half, wide_half = old.ffn[2].in_channels, new.ffn[2].in_channels
    hidden = _cat((_prefix(half), wide_half), (_prefix(half), wide_half))
    _grow_conv(old.ffn[0], new.ffn[0], width_map, hidden)
    _grow_conv(old.ffn[2], new.ffn[2], _prefix(half), width_map)


def _grow_conv(old: nn.Conv2d, new: nn.Conv2d, in_map: torch.Tensor, out_map: torch.Tensor,
               silent_inputs: bool = False) -> None:
    """Old weights where the maps put them; old outputs ignore new inputs; new outputs start small.

    ``silent_inputs``: the layer turns features into pixels, so what the new inputs contribute starts at
    zero for every output (the new channels are then free to learn without changing the picture).
    """
    _scale_(new)
    if silent_inputs:
        new.weight.zero_()
    new.weight[out_map] = 0.0
    new.weight[out_map.unsqueeze(1), in_map.unsqueeze(0)] = old.weight
    if new.bias is not None:
        new.bias[out_map] = old.bias


def _scale_(conv: nn.Conv2d) -> None:
    conv.weight.mul_(NEW_CHANNEL_GAIN)
    if conv.bias is not None:
        conv.bias.mul_(NEW_CHANNEL_GAIN)
