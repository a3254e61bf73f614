"""Coding one frame: the networks on one side, the rANS coder on the other.

Encoder and decoder share every prediction step; they differ only in where a
step's symbols come from (quantising y, or the payload).  Each function
mirrors the reference's float expressions so that the decoder's tensors are
bit-identical to the encoder's under the same numerics profile.

Payload layout of a frame (each item one "handed-over array")::

    I: z | y step 0 | y step 1 | y step 2 | y step 3
    P: z | y step 0 | y step 1
    P with block skip (nvc): skip_prob:u8, then in the rANS stream: skip map | z | y step 0 | y step 1
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nvcodec.codec import block_skip
from nvcodec.codec.frames import latent_size, pad_replicate
from nvcodec.entropy.context import MaskCache, fold, quantize_step, unfold
from nvcodec.entropy.gaussian import ScaleIndexer
from nvcodec.entropy.rans import CdfTable, RansDecoder, RansEncoder
from nvcodec.errors import ModelError, StreamError
from nvcodec.models.inter import InterModel
from nvcodec.models.intra import IntraModel
from nvcodec.models.lambdas import LAMBDA_MAX_NARROW, lambda_for_qp


@dataclass
class CoderContext:
    """What every frame coder needs besides the networks: tables, masks, the skip rule."""

    gaussian: CdfTable
    z_table: CdfTable
    indexer: ScaleIndexer
    masks: MaskCache
    flags: CdfTable | None = None  # the block-skip map's table (P frames of streams that use it)


@dataclass
class Reference:
    """The decoded picture buffer: the previous frame's pixels and/or its decoder feature."""

    frame: torch.Tensor | None
    feature: torch.Tensor | None
    qp: int  # qp of the frame that produced it (a reset regenerates pixels with it)
    # the decoded pixels of the last I frame or reset, which an anchor-skip model blends in
    anchor: torch.Tensor | None = None


# -- shared pieces ------------------------------------------------------------


def _z_rows(qp: int, channels: int, size: tuple[int, int]) -> np.ndarray:
    per_channel = size[0] * size[1]
    return np.repeat(np.arange(channels, dtype=np.int32) + qp * channels, per_channel)


def _round_z(z: torch.Tensor) -> torch.Tensor:
    # nan_to_num: see quantize_step (identity on every finite value)
    return torch.nan_to_num(torch.clamp(torch.round(z), -128.0, 127.0), nan=0.0)


def _encode_z(coder: RansEncoder, ctx: CoderContext, z_hat: torch.Tensor, qp: int) -> None:
    _, c, h, w = z_hat.shape
    symbols = z_hat.to(torch.int8).reshape(-1).cpu().numpy().astype(np.int32)
    coder.encode(symbols, _z_rows(qp, c, (h, w)), ctx.z_table)


def _decode_z(coder: RansDecoder, ctx: CoderContext, qp: int, channels: int, size: tuple[int, int],
              device: torch.device) -> torch.Tensor:
    symbols = coder.decode(_z_rows(qp, channels, size), ctx.z_table)
    z = torch.from_numpy(symbols.astype(np.float32)).to(device)
    return z.reshape(1, channels, size[0], size[1])


def _coded(ctx: CoderContext, scales_grid: torch.Tensor, keep: torch.Tensor | None
           ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Table indices of a step's grid and which elements are coded (skip threshold and skipped blocks)."""
    index, coded = ctx.indexer.indices(scales_grid.reshape(-1))
    if keep is not None:
        kept = keep.expand_as(scales_grid).reshape(-1) > 0
        coded = kept if coded is None else coded & kept
    return index, coded


def _encode_step(coder: RansEncoder, ctx: CoderContext, symbols: torch.Tensor, scales: torch.Tensor,
                 groups: int, keep: torch.Tensor | None = None) -> None:
    """Fold one step to its grid and hand the coded elements to the coder."""
    grid = fold(symbols, groups).reshape(-1)
    index, coded = _coded(ctx, fold(scales, groups), keep)
    if coded is not None:
        grid, index = grid[coded], index[coded]
    coder.encode(grid.to(torch.int32).cpu().numpy(), index.to(torch.int32).cpu().numpy(), ctx.gaussian)


def _decode_step(coder: RansDecoder, ctx: CoderContext, scales_grid: torch.Tensor,
                 keep: torch.Tensor | None = None) -> torch.Tensor:
    """Read one step's grid (zeros where skipped) given its folded scales."""
    shape = scales_grid.shape
    index, coded = _coded(ctx, scales_grid, keep)
    if coded is None:
        values = coder.decode(index.to(torch.int32).cpu().numpy(), ctx.gaussian)
        grid = torch.from_numpy(values.astype(np.float32))
    else:
        coded_cpu = coded.cpu()
        values = coder.decode(index[coded].to(torch.int32).cpu().numpy(), ctx.gaussian)
        grid = torch.zeros(coded_cpu.numel(), dtype=torch.float32)
        grid[coded_cpu] = torch.from_numpy(values.astype(np.float32))
    return grid.to(scales_grid.device).reshape(shape)


def _hyper_input(y: torch.Tensor) -> torch.Tensor:
    h, w = y.shape[-2:]
    return pad_replicate(y, -(-h // 4) * 4, -(-w // 4) * 4)


# -- intra --------------------------------------------------------------------


@torch.no_grad()
def encode_intra(model: IntraModel, ctx: CoderContext, x: torch.Tensor, qp: int, coder: RansEncoder
                 ) -> tuple[bytes, torch.Tensor]:
    """Payload and reconstruction (padded, clamped) of an I frame.

    ``coder`` (its ``two_ec`` as the SPS says) is kept by the caller across frames, so that
    its buffers are reused; anything left queued in it (by a frame that failed) is dropped."""
    y = model.analysis(x, qp)
    z_hat = _round_z(model.hyper_enc(_hyper_input(y)))
    size = (y.shape[2], y.shape[3])
    params = model.prior_params(z_hat, size)
    q_enc, q_dec, scales, means = model.split_params(params)
    common = model.y_spatial_prior_reduction(params)
    masks = ctx.masks.get(4, y.shape[1], size[0], size[1], y.dtype, y.device)
    y = y * q_enc

    coder.reset()
    _encode_z(coder, ctx, z_hat, qp)
    y_hat_so_far = None
    for step in range(4):
        if step:
            scales, means = model.step_prior(step, y_hat_so_far, common)
        q = quantize_step(y, scales, means, masks[step], ctx.indexer.skip_threshold)
        y_hat_so_far = q.y_hat if y_hat_so_far is None else y_hat_so_far + q.y_hat
        _encode_step(coder, ctx, q.symbols, q.scales, 4)
    x_hat = model.synthesis(y_hat_so_far * q_dec, qp)
    return coder.flush(), x_hat


@torch.no_grad()
def decode_intra(model: IntraModel, ctx: CoderContext, payload: bytes, qp: int, height: int, width: int,
                 two_ec: bool, device: torch.device) -> torch.Tensor:
    coder = RansDecoder(payload, two_ec)
    z_hat = _decode_z(coder, ctx, qp, model.cfg.hyper, latent_size(height, width, 64), device)
    size = latent_size(height, width, 16)
    params = model.prior_params(z_hat, size)
    _, q_dec, scales, means = model.split_params(params)
    common = model.y_spatial_prior_reduction(params)
    masks = ctx.masks.get(4, model.cfg.latent, size[0], size[1], params.dtype, params.device)
    y_hat_so_far = None
    for step in range(4):
        if step:
            scales, means = model.step_prior(step, y_hat_so_far, common)
        grid = _decode_step(coder, ctx, fold(scales * masks[step], 4))
        y_hat = unfold(grid, means, masks[step], 4)
        y_hat_so_far = y_hat if y_hat_so_far is None else y_hat_so_far + y_hat
    coder.finish()
    return model.synthesis(y_hat_so_far * q_dec, qp)


# -- inter --------------------------------------------------------------------


def _reference_feature(model: InterModel, ref: Reference) -> torch.Tensor:
    return model.reference_feature(ref.frame, ref.feature)


def _gate_pixels(model: InterModel, ref: Reference) -> torch.Tensor | None:
    """The picture a gated reconstruction blends in (None for models without a pixel gate)."""
    pixels = model.gate_pixels(ref.frame, ref.anchor)
    if pixels is None and model.cfg.pixel_gate:
        raise ModelError("a P-frame model that blends in a reference picture has none to blend")
    return pixels


@dataclass
class SkipEstimate:
    """The encoder's memory for block skip: each block's error when it was last coded.

    A P frame's coding error is only known after it is coded; the previous one's, block by block,
    is the estimate that lets the encoder choose its skips in one pass.  None after an I frame:
    the first P frame is then coded twice (once to measure, once with its skips).
    """

    code_error: torch.Tensor | None = None
    # lambda at qp 63 of the model coding (the trade-off it was trained at prices distortion in bits)
    lambda_max: float = LAMBDA_MAX_NARROW


def _code_latent(model: InterModel, ctx: CoderContext, coder: RansEncoder, qp: int, z_hat: torch.Tensor,
                 y: torch.Tensor, params: torch.Tensor, skips: np.ndarray | None, measure: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Write the map (when given), z and both steps; y_hat (before q_dec) and, when ``measure``,
    the estimated bits of each latent position."""
    _, scales, means = params.chunk(3, 1)  # the step prior reads params as they are (q_dec unclamped)
    _, c, h, w = y.shape
    masks = ctx.masks.get(2, c, h, w, y.dtype, y.device)
    keep = None
    coder.reset()
    if skips is not None:
        block_skip.encode_map(coder, ctx.flags, skips, block_skip.first_half_prob(skips))
        keep = (~block_skip.expand(skips, 1, y.device)).to(y.dtype)
    _encode_z(coder, ctx, z_hat, qp)
    threshold = ctx.indexer.skip_threshold or 0.0
    q0 = quantize_step(y, scales, means, masks[0], ctx.indexer.skip_threshold, keep)
    _encode_step(coder, ctx, q0.symbols, q0.scales, 2, keep)
    bits = block_skip.latent_bits(q0.symbols, q0.scales, q0.scales > threshold) if measure else None
    scales, means = model.step_prior(q0.y_hat, params)
    q1 = quantize_step(y, scales, means, masks[1], ctx.indexer.skip_threshold, keep)
    _encode_step(coder, ctx, q1.symbols, q1.scales, 2, keep)
    if measure:
        bits = bits + block_skip.latent_bits(q1.symbols, q1.scales, q1.scales > threshold)
    return q0.y_hat + q1.y_hat, bits


def _with_skips(feature: torch.Tensor, frame: torch.Tensor, ref: Reference, shown: torch.Tensor,
                skips: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The skipped blocks' feature from the reference (when it has one) and pixels from ``shown``."""
    if skips is None or not skips.any():
        return feature, frame
    if ref.feature is not None:
        feature = torch.where(block_skip.expand(skips, 2, feature.device), ref.feature, feature)
    return feature, torch.where(block_skip.expand(skips, block_skip.BLOCK, frame.device), shown, frame)


@torch.no_grad()
def encode_inter(model: InterModel, ctx: CoderContext, x: torch.Tensor, qp: int, ref: Reference,
                 coder: RansEncoder, reconstruct: bool, skip: SkipEstimate | None = None,
                 shown: torch.Tensor | None = None) -> tuple[bytes, Reference]:
    """Payload of a P frame and the new reference (with pixels when ``reconstruct``); ``coder`` as
    for :func:`encode_intra`.  ``skip`` turns on block skip (the stream's SPS must say so), with
    ``shown`` the previous decoded frame; the reference then always has pixels."""
    f1, ctx_t = model.temporal_context(_reference_feature(model, ref), qp)
    context = model.context(f1)
    y = model.analysis(x, context, qp)
    z_hat = _round_z(model.hyper_encoder(_hyper_input(y)))
    params = model.prior_params(z_hat, ctx_t)
    q_dec, scales, means = params.chunk(3, 1)
    q_dec = torch.clamp_min(q_dec, 0.5)
    y = y * torch.reciprocal(q_dec)

    if skip is None:
        y_hat, _ = _code_latent(model, ctx, coder, qp, z_hat, y, params, None)
        feature = model.synthesis_feature(y_hat * q_dec, context, qp, ref.feature)
        # nothing later needs these pixels on the encoder's side: a reset rebuilds its own from the feature
        frame = model.reconstruct(feature, qp, _gate_pixels(model, ref)) if reconstruct else None
        return coder.flush(), Reference(frame=frame, feature=feature, qp=qp, anchor=ref.anchor)

    if shown is None:
        raise ModelError("block skip copies from the previous decoded frame, and none was given")
    lam = lambda_for_qp(qp, skip.lambda_max)
    copy_error = block_skip.block_error(x, shown)
    code_error = skip.code_error
    if code_error is None:
        y_hat, bits = _code_latent(model, ctx, coder, qp, z_hat, y, params, None, measure=True)
        feature = model.synthesis_feature(y_hat * q_dec, context, qp, ref.feature)
        frame = model.reconstruct(feature, qp, _gate_pixels(model, ref))
        code_error = block_skip.block_error(x, frame)
        skips = block_skip.choose_skips(bits, copy_error, code_error, lam)
    else:
        coded = scales > (ctx.indexer.skip_threshold or 0.0)
        bits = block_skip.latent_bits(torch.round(y - means), scales, coded)
        skips = block_skip.choose_skips(bits, copy_error, code_error, lam)
        frame = None
    if frame is None or skips.any():
        y_hat, _ = _code_latent(model, ctx, coder, qp, z_hat, y, params, skips if skips.any() else None)
        feature = model.synthesis_feature(y_hat * q_dec, context, qp, ref.feature)
        frame = model.reconstruct(feature, qp, _gate_pixels(model, ref))
    coded_error = block_skip.block_error(x, frame)
    skip.code_error = torch.where(torch.as_tensor(skips, device=coded_error.device), code_error, coded_error)
    feature, frame = _with_skips(feature, frame, ref, shown, skips)
    payload = bytes((block_skip.first_half_prob(skips),)) + coder.flush()
    return payload, Reference(frame=frame, feature=feature, qp=qp, anchor=ref.anchor)


@torch.no_grad()
def decode_inter(model: InterModel, ctx: CoderContext, payload: bytes, qp: int, height: int, width: int,
                 ref: Reference, two_ec: bool, device: torch.device, shown: torch.Tensor | None = None
                 ) -> Reference:
    """``shown``: the previous decoded frame, given exactly when the stream uses block skip."""
    skips = None
    size = latent_size(height, width, 16)
    if shown is not None:
        if not payload:
            raise StreamError("P frame with block skip has an empty payload")
        prob, payload = payload[0], payload[1:]
        if prob >= block_skip.PROB_STEPS:
            raise StreamError(f"P frame has skip probability {prob}/{block_skip.PROB_STEPS}")
    coder = RansDecoder(payload, two_ec)
    keep = None
    if shown is not None and prob:
        skips = block_skip.decode_map(coder, ctx.flags, prob, *size)
        keep = (~block_skip.expand(skips, 1, device)).to(torch.float32)
    z_hat = _decode_z(coder, ctx, qp, model.cfg.hyper, latent_size(height, width, 64), device)
    f1, ctx_t = model.temporal_context(_reference_feature(model, ref), qp)
    params = model.prior_params(z_hat, ctx_t)
    q_dec, scales, means = params.chunk(3, 1)
    q_dec = torch.clamp_min(q_dec, 0.5)
    _, c, h, w = means.shape
    masks = ctx.masks.get(2, c, h, w, means.dtype, means.device)
    if keep is not None:
        keep = keep.to(means.dtype)

    grid = _decode_step(coder, ctx, fold(scales * masks[0], 2), keep)
    y_hat_0 = unfold(grid, means, masks[0], 2)
    scales, means = model.step_prior(y_hat_0, params)
    grid = _decode_step(coder, ctx, fold(scales * masks[1], 2), keep)
    y_hat_1 = unfold(grid, means, masks[1], 2)
    coder.finish()
    y_hat = (y_hat_0 + y_hat_1) * q_dec

    feature = model.synthesis_feature(y_hat, model.context(f1), qp, ref.feature)
    frame = model.reconstruct(feature, qp, _gate_pixels(model, ref))
    if shown is not None:
        feature, frame = _with_skips(feature, frame, ref, shown, skips)
    return Reference(frame=frame, feature=feature, qp=qp, anchor=ref.anchor)


@torch.no_grad()
def regenerate_reference(model: InterModel, ref: Reference) -> Reference:
    """A reset: predict the next frame from pixels, not from the propagated feature.

    The pixels are the reconstruction of the stored feature with the qp that produced it, without
    what a pixel gate blends in.  Without a gate the decoder already holds exactly those pixels;
    with one, the displayed frame depends on every frame before it (a reference skip blends in the
    previous decoded frame), and an encoder would have to reconstruct every P frame to follow it,
    where this costs both sides one reconstruction per reset.  After an I frame there is no
    feature, and the I frame's pixels are the reference.
    """
    frame = ref.frame
    if ref.feature is not None and (frame is None or model.cfg.pixel_gate):
        frame = model.reconstruct_ungated(ref.feature, ref.qp)
    return pixel_reference(model, frame, ref.qp)


def pixel_reference(model: InterModel, frame: torch.Tensor, qp: int) -> Reference:
    """The reference an I frame or a reset leaves: pixels only, and the anchor for a model that blends
    one in (kept nowhere else, so other models do not hold the picture for the rest of the sequence)."""
    return Reference(frame=frame, feature=None, qp=qp, anchor=frame if model.cfg.anchor_skip else None)
