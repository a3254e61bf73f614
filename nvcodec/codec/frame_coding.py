"""Coding one frame: the frame contracts on one side, the rANS coder on the other.

What is computed, and which symbols come out of it, is the contracts' business
(:mod:`nvcodec.codec.intra_codec`, :mod:`nvcodec.codec.inter_codec`); training runs
the same contracts.  This module writes their symbols into a frame's payload and reads
them back, and makes the encoder's block-skip choice.  Encoder and decoder share every
prediction step; they differ only in where a step's symbols come from (quantising y,
or the payload), so the decoder's tensors are bit-identical to the encoder's under the
same numerics profile.

Payload layout of a frame (each item one "handed-over array")::

    I: z | y step 0 | y step 1 | y step 2 | y step 3
    P: z | y step 0 | y step 1
    P with block skip (nvc): skip_prob:u8, then in the rANS stream: skip map | z | y step 0 | y step 1
    P with motion (nvc): motion:u8 [params:u8 x 8] [skip_prob:u8], then in the rANS stream:
                         [field] | [skip map] | z | y step 0 | y step 1
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nvcodec.codec import block_skip, motion, picture_layer
from nvcodec.codec.context_steps import StepReader
from nvcodec.codec.frames import ChromaFormat, Planes, latent_size, planes_to_tensor, tensor_to_planes
from nvcodec.codec.inter_codec import Analysis, InterCodec, Reference, regenerate_reference, with_skips
from nvcodec.codec.intra_codec import IntraCodec
from nvcodec.codec.outputs import Symbols
from nvcodec.entropy.context import MaskCache, fold
from nvcodec.entropy.gaussian import ScaleIndexer
from nvcodec.entropy.rans import CdfTable, RansDecoder, RansEncoder
from nvcodec.errors import ModelError, StreamError
from nvcodec.models.inter import InterModel
from nvcodec.models.intra import IntraModel
from nvcodec.models.lambdas import LAMBDA_MAX_NARROW, lambda_for_qp

__all__ = ["CoderContext", "MotionEstimate", "Reference", "SkipEstimate", "compensate", "decode_inter",
           "decode_intra", "encode_inter", "encode_intra", "regenerate_reference", "skips_after_coding"]


@dataclass
class CoderContext:
    """What every frame coder needs besides the networks: tables, masks, the skip rule."""

    gaussian: CdfTable
    z_table: CdfTable
    indexer: ScaleIndexer
    masks: MaskCache
    flags: CdfTable | None = None  # the block-skip map's table (P frames of streams that use it)
    classes: CdfTable | None = None  # magnitude classes: the motion field's and the picture layer's


# -- symbols in and out of the rANS stream ------------------------------------------------------


def _z_rows(qp: int, channels: int, size: tuple[int, int]) -> np.ndarray:
    per_channel = size[0] * size[1]
    return np.repeat(np.arange(channels, dtype=np.int32) + qp * channels, per_channel)


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


def _write(coder: RansEncoder, ctx: CoderContext, qp: int, symbols: Symbols, groups: int,
           skips: np.ndarray | None = None, field: motion.FieldCode | None = None) -> None:
    """Start the frame's rANS stream afresh and write the motion field and the skip map (when given),
    z and every step."""
    coder.reset()
    if field is not None:
        motion.encode_field(coder, ctx.classes, field)
    keep = None
    if skips is not None:
        block_skip.encode_map(coder, ctx.flags, skips, block_skip.first_half_prob(skips))
        keep = block_skip.coded_positions(skips, symbols.z_hat.dtype, symbols.z_hat.device)
    _encode_z(coder, ctx, symbols.z_hat, qp)
    for step in symbols.steps:
        _encode_step(coder, ctx, step.symbols, step.scales, groups, keep)


def _reader(coder: RansDecoder, ctx: CoderContext) -> StepReader:
    def read(scales_grid: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        return _decode_step(coder, ctx, scales_grid, keep)

    return read


# -- intra ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRequest:
    """A frame's picture layer, as the encoder asks for it: the source picture and the step (1/16; None:
    this frame carries none, in a stream whose frames may)."""

    source: Planes
    step16: int | None


def _plan_layer(ctx: CoderContext, coder: RansEncoder, layer: LayerRequest, decoded: Planes
                ) -> tuple[bytes, Planes | None]:
    """The layer byte and parameters a payload starts with, the layer's symbols queued in ``coder``
    after the networks', and the enhanced picture; a layer with nothing in it is not sent (byte 0)."""
    code, enhanced = picture_layer.plan(layer.source, decoded, layer.step16, ctx.classes)
    if picture_layer.is_empty(code):
        return b"\x00", None
    picture_layer.write(coder, ctx.classes, code)
    return b"\x01" + code.params, enhanced


def _layer_params(payload: bytes, what: str) -> tuple[bytes | None, bytes]:
    """The layer parameters a payload starts with (None: no layer in this frame) and the rest."""
    if not payload or payload[0] > 1:
        raise StreamError(f"{what} has picture layer byte {payload[:1].hex() or 'none'} (0 or 1)")
    if payload[0] == 0:
        return None, payload[1:]
    params = bytes(payload[1:1 + picture_layer.params_size()])
    if len(params) != picture_layer.params_size():
        raise StreamError(f"{what} ends inside its picture layer's parameters")
    return params, payload[1 + len(params):]


@torch.no_grad()
def encode_intra(model: IntraModel, ctx: CoderContext, x: torch.Tensor, qp: int, coder: RansEncoder,
                 latent: torch.Tensor | None = None, layer: LayerRequest | None = None
                 ) -> tuple[bytes, torch.Tensor, Planes | None]:
    """Payload, reconstruction (padded, clamped) and, with ``layer``, the enhanced picture of an I frame.

    ``coder`` (its ``two_ec`` as the SPS says) is kept by the caller across frames, so that
    its buffers are reused; anything left queued in it (by a frame that failed) is dropped.
    ``latent``: the y to code in place of the analysis of ``x`` (:mod:`nvcodec.codec.latent_refine`).
    ``layer`` (the SPS's layer flag must be set): the payload starts with the layer byte and its
    parameters, and the layer's symbols follow the networks' in the rANS stream."""
    codec = IntraCodec(model)
    symbols, x_hat = codec.compress(x, qp, ctx.indexer.skip_threshold, ctx.masks, y=latent)
    _write(coder, ctx, qp, symbols, codec.schedule.steps)
    if layer is None or layer.step16 is None:
        return (b"" if layer is None else b"\x00") + coder.flush(), x_hat, None
    source = layer.source
    decoded = tensor_to_planes(x_hat, source.height, source.width, source.chroma)
    head, enhanced = _plan_layer(ctx, coder, layer, decoded)
    return head + coder.flush(), x_hat, enhanced


@torch.no_grad()
def decode_intra(model: IntraModel, ctx: CoderContext, payload: bytes, qp: int, height: int, width: int,
                 two_ec: bool, device: torch.device, layer: bool = False, chroma: ChromaFormat = "420"
                 ) -> tuple[torch.Tensor, Planes | None]:
    """Reconstruction of an I frame and, when it carries a picture layer (``layer``: the SPS's flag),
    the enhanced picture."""
    params = None
    if layer:
        params, payload = _layer_params(payload, "I frame")
    coder = RansDecoder(payload, two_ec)
    z_hat = _decode_z(coder, ctx, qp, model.cfg.hyper, latent_size(height, width, 64), device)
    x_hat = IntraCodec(model).decompress(z_hat, _reader(coder, ctx), qp, latent_size(height, width, 16), ctx.masks)
    enhanced = None
    if params is not None:
        enhanced = picture_layer.read(coder, ctx.classes, params, tensor_to_planes(x_hat, height, width, chroma))
    coder.finish()
    return x_hat, enhanced


# -- inter ----------------------------------------------------------------------------------------


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


def _step_bits(symbols: Symbols, threshold: float) -> torch.Tensor:
    """Estimated bits of each latent position over all steps of a coded frame."""
    bits = None
    for q in symbols.steps:
        step = block_skip.latent_bits(q.symbols, q.scales, q.scales > threshold)
        bits = step if bits is None else bits + step
    return bits


def skips_after_coding(x: torch.Tensor, shown: torch.Tensor, symbols: Symbols, frame: torch.Tensor,
                       threshold: float | None, lam: float, copy_error: torch.Tensor | None = None
                       ) -> tuple[np.ndarray, torch.Tensor]:
    """The skip map the encoder chooses for a frame it has coded whole (its first P frame after an I
    frame or a reset), and each block's coded error.  Training chooses its maps the same way, so the
    P frames learn on the copies and the mixed features that streams hold."""
    if copy_error is None:
        copy_error = block_skip.block_error(x, shown)
    code_error = block_skip.block_error(x, frame)
    return block_skip.choose_skips(_step_bits(symbols, threshold or 0.0), copy_error, code_error, lam), code_error


def _estimated_bits(a: Analysis, threshold: float) -> torch.Tensor:
    """Estimated bits of each latent position before coding: every element under step 0's prior."""
    scales, means = a.first
    return block_skip.latent_bits(torch.round(a.y - means), scales, scales > threshold)


@dataclass
class MotionEstimate:
    """The encoder's memory for motion: the previous P frame's field, whose vectors seed the next
    search (None after an I frame)."""

    previous: np.ndarray | None = None
    # lambda at qp 63 of the model coding: the search weighs a vector's bits at the frame's lambda
    lambda_max: float = LAMBDA_MAX_NARROW


def compensate(ref: Reference, shown: torch.Tensor | None, field: np.ndarray | None
               ) -> tuple[Reference, torch.Tensor | None]:
    """The reference and the previous decoded frame moved by a field (unchanged without one)."""
    if field is None or not field.any():
        return ref, shown
    device = (ref.frame if ref.frame is not None else ref.feature).device
    vectors = motion.as_batch(field, device)
    frame = motion.warp_frame(ref.frame, vectors) if ref.frame is not None else None
    feature = motion.warp_feature(ref.feature, vectors) if ref.feature is not None else None
    # between resets the reference picture is the previous decoded frame itself: moved once
    moved = frame if shown is ref.frame else (motion.warp_frame(shown, vectors) if shown is not None else None)
    return Reference(frame=frame, feature=feature, qp=ref.qp), moved


def _motion_header(code: motion.FieldCode | None) -> bytes:
    return b"\x00" if code is None else b"\x01" + code.params


@torch.no_grad()
def encode_inter(model: InterModel, ctx: CoderContext, x: torch.Tensor, qp: int, ref: Reference,
                 coder: RansEncoder, reconstruct: bool, skip: SkipEstimate | None = None,
                 shown: torch.Tensor | None = None, moves: MotionEstimate | None = None,
                 layer: LayerRequest | None = None) -> tuple[bytes, Reference]:
    """Payload of a P frame and the new reference (with pixels when ``reconstruct``); ``coder`` as
    for :func:`encode_intra`.  ``skip`` turns on block skip and ``moves`` motion (the stream's SPS
    must say so), with ``shown`` the previous decoded frame; the reference then always has pixels.
    ``layer`` (the SPS's layer flag must be set): the new reference's pixels are the enhanced picture."""
    if layer is not None and layer.step16 is not None:
        reconstruct = True
    codec = InterCodec(model)
    threshold = ctx.indexer.skip_threshold
    steps = codec.schedule.steps
    header, field = b"", None
    if moves is not None:
        if shown is None:
            raise ModelError("motion is searched in the previous decoded frame, and none was given")
        vectors = motion.search(x, shown, lambda_for_qp(qp, moves.lambda_max), moves.previous)
        moves.previous = vectors
        field = motion.plan_field(vectors, ctx.classes) if vectors.any() else None
        header = _motion_header(field)
        ref, shown = compensate(ref, shown, vectors)
        reconstruct = True
    if skip is None:
        # without block skip nothing later needs the pixels on the encoder's side: a reset
        # rebuilds its own from the feature
        symbols, new_ref = codec.compress(x, qp, ref, threshold, masks=ctx.masks, reconstruct=reconstruct)
        _write(coder, ctx, qp, symbols, steps, field=field)
        return _finish_inter(ctx, coder, layer, header, new_ref)

    if shown is None:
        raise ModelError("block skip copies from the previous decoded frame, and none was given")
    a = codec.analyse(x, qp, ref)
    lam = lambda_for_qp(qp, skip.lambda_max)
    copy_error = block_skip.block_error(x, shown)
    code_error = skip.code_error
    frame = None
    if code_error is None:
        symbols, feature, frame = codec.code(a, qp, ref, threshold, masks=ctx.masks)
        _write(coder, ctx, qp, symbols, steps, field=field)
        skips, code_error = skips_after_coding(x, shown, symbols, frame, threshold, lam, copy_error)
    else:
        skips = block_skip.choose_skips(_estimated_bits(a, threshold or 0.0), copy_error, code_error, lam)
    if frame is None or skips.any():
        coded_skips = skips if skips.any() else None
        symbols, feature, frame = codec.code(a, qp, ref, threshold, coded_skips, ctx.masks)
        _write(coder, ctx, qp, symbols, steps, coded_skips, field)
    coded_error = block_skip.block_error(x, frame)
    skip.code_error = torch.where(torch.as_tensor(skips, device=coded_error.device), code_error, coded_error)
    feature, frame = with_skips(feature, frame, ref.feature, shown, skips)
    header += bytes((block_skip.first_half_prob(skips),))
    return _finish_inter(ctx, coder, layer, header, Reference(frame=frame, feature=feature, qp=qp))


def _finish_inter(ctx: CoderContext, coder: RansEncoder, layer: LayerRequest | None, header: bytes,
                  ref: Reference) -> tuple[bytes, Reference]:
    """A P frame's payload once its networks' symbols are queued: with its picture layer, if any, whose
    enhanced picture becomes the reference's pixels (the feature stays the networks')."""
    if layer is None or layer.step16 is None:
        return (b"" if layer is None else b"\x00") + header + coder.flush(), ref
    source = layer.source
    decoded = tensor_to_planes(ref.frame, source.height, source.width, source.chroma)
    layer_header, enhanced = _plan_layer(ctx, coder, layer, decoded)
    if enhanced is not None:
        ref = _with_pixels(ref, enhanced)
    return layer_header + header + coder.flush(), ref


def _with_pixels(ref: Reference, enhanced: Planes) -> Reference:
    """A P frame's reference whose pixels are its enhanced picture (the feature stays the networks')."""
    return Reference(frame=planes_to_tensor(enhanced, ref.frame.device), feature=ref.feature, qp=ref.qp)


@torch.no_grad()
def decode_inter(model: InterModel, ctx: CoderContext, payload: bytes, qp: int, height: int, width: int,
                 ref: Reference, two_ec: bool, device: torch.device, shown: torch.Tensor | None = None,
                 block_skips: bool = False, moves: bool = False, layer: bool = False,
                 chroma: ChromaFormat = "420") -> Reference:
    """``block_skips`` / ``moves`` / ``layer``: the stream's SPS flags; ``shown``, the previous decoded
    frame, is required with block skip or motion.  With a picture layer the reference's pixels are the
    enhanced picture."""
    if (block_skips or moves) and shown is None:
        raise ModelError("block skip and motion read the previous decoded frame, and none was given")
    layer_params = None
    if layer:
        layer_params, payload = _layer_params(payload, "P frame")
    params = None
    if moves:
        if not payload:
            raise StreamError("P frame with motion has an empty payload")
        flag, payload = payload[0], payload[1:]
        if flag > 1:
            raise StreamError(f"P frame has motion flag {flag} (0 or 1)")
        if flag:
            if len(payload) < motion.CONTEXTS:
                raise StreamError("P frame ends inside its motion table rows")
            params, payload = bytes(payload[: motion.CONTEXTS]), payload[motion.CONTEXTS:]
    skips, prob = None, 0
    if block_skips:
        if not payload:
            raise StreamError("P frame with block skip has an empty payload")
        prob, payload = payload[0], payload[1:]
        if prob >= block_skip.PROB_STEPS:
            raise StreamError(f"P frame has skip probability {prob}/{block_skip.PROB_STEPS}")
    coder = RansDecoder(payload, two_ec)
    if params is not None:
        field = motion.decode_field(coder, ctx.classes, params, *latent_size(height, width, 16))
        ref, shown = compensate(ref, shown, field)
    if prob:
        skips = block_skip.decode_map(coder, ctx.flags, prob, *latent_size(height, width, 16))
    z_hat = _decode_z(coder, ctx, qp, model.cfg.hyper, latent_size(height, width, 64), device)
    new_ref = InterCodec(model).decompress(z_hat, _reader(coder, ctx), qp, ref, skips, shown, ctx.masks)
    if layer_params is not None:
        decoded = tensor_to_planes(new_ref.frame, height, width, chroma)
        new_ref = _with_pixels(new_ref, picture_layer.read(coder, ctx.classes, layer_params, decoded))
    coder.finish()
    return new_ref
