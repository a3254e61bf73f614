"""Coding a sequence frame by frame: the encoder and decoder objects.

    encoder = SequenceEncoder(model, CodingSettings(qp_i=40))
    stream = b"".join(u.to_bytes() for f in frames for u in encoder.encode(f).units)
    decoder = SequenceDecoder(model, skip_threshold=encoder.settings.skip_threshold)
    frames_out = list(decoder.decode_stream(stream))

The encoder returns its own reconstruction of every frame, which a decoder
running the same numerics profile reproduces exactly.  The decoder keeps no
state from the encoder: everything it needs is in the stream, except the
skip threshold (DCVC-RT's stream has no field for it; the .nvc container does).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from nvcodec.bitstream import FrameType, FrameUnit, SpsUnit, Unit, read_units
from nvcodec.bitstream.units import MAX_SPS_ID
from nvcodec.codec import block_skip, motion
from nvcodec.codec import frame_coding as fc
from nvcodec.codec.device import resolve_device
from nvcodec.codec.frames import CHROMA_FORMATS, ChromaFormat, Planes, planes_to_tensor, tensor_to_planes
from nvcodec.codec.gop import FramePlan, plan_frame
from nvcodec.codec.latent_refine import refine_intra_latent
from nvcodec.entropy.context import MaskCache
from nvcodec.entropy.gaussian import ScaleIndexer
from nvcodec.entropy.rans import RansEncoder
from nvcodec.entropy.tables import factorized_table, gaussian_table
from nvcodec.errors import ConfigError, InputError, NumericsError, StreamError
from nvcodec.media import MAX_DIMENSION
from nvcodec.models.bundle import CodecModel
from nvcodec.models.config import INTER_QP_COUNT, INTRA_QP_COUNT
from nvcodec.models.lambdas import lambda_for_qp
from nvcodec.numerics import default_profile_for, get_profile, pinned
from nvcodec.settings import CodingSettings, check_intra_refine


@dataclass(frozen=True)
class EncodedFrame:
    """One frame's units (an SPS first when the frame needs a new one) and what the decoder will show."""

    plan: FramePlan
    units: list[Unit]
    reconstruction: Planes | None

    @property
    def size_bytes(self) -> int:
        return sum(len(u.to_bytes()) for u in self.units)


def _contexts(model: CodecModel, skip_threshold: float | None) -> tuple[fc.CoderContext, fc.CoderContext]:
    indexer = ScaleIndexer(skip_threshold)
    masks = MaskCache()
    gauss = gaussian_table()
    classes = motion.class_table()  # the motion field's and the picture layer's magnitude classes
    return (
        fc.CoderContext(gauss, factorized_table(model.intra.bit_estimator_z), indexer, masks, classes=classes),
        fc.CoderContext(gauss, factorized_table(model.inter.bit_estimator_z), indexer, masks,
                        block_skip.flag_table(), classes),
    )


def _numerics_for(device: torch.device, requested: str | None) -> str:
    name = requested or default_profile_for(device.type)
    if get_profile(name).device != device.type:
        raise NumericsError(f"numerics profile {name} computes on {get_profile(name).device}, not {device.type}")
    return name


def _step16(step: float | None) -> int | None:
    return None if step is None else round(float(step) * 16)


class SequenceEncoder:
    """Encodes frames of one size in display order (low-delay P)."""

    def __init__(self, model: CodecModel, settings: CodingSettings, device: str = "auto",
                 reconstruct: bool = True, intra_refine: int = 0) -> None:
        """``intra_refine``: iterations of the encoder's search for each I frame's latent
        (:mod:`nvcodec.codec.latent_refine`; 0: the analysis' latent, as DCVC-RT codes it)."""
        self.intra_refine = check_intra_refine(intra_refine)
        self.settings = settings.resolve(model.inter.cfg)
        # the layer's steps in the stream's sixteenths (None: frames of that type carry none)
        self.layer_step16 = _step16(self.settings.layer_step)
        self.layer_step16_p = _step16(self.settings.layer_step_p)
        self.block_skip = bool(self.settings.block_skip)
        self.motion = bool(self.settings.motion)
        self.device = resolve_device(device)
        self.numerics = _numerics_for(self.device, settings.numerics if self.device.type == "cpu" else None)
        with pinned(self.numerics):
            self.model = model.to(self.device)
            self.intra_ctx, self.inter_ctx = _contexts(model, settings.skip_threshold)
        # block skip copies from the previous decoded frame and motion is searched in it, so the
        # encoder must have every one
        self.reconstruct = reconstruct or self.block_skip or self.motion
        self._skip: fc.SkipEstimate | None = None
        self._moves: fc.MotionEstimate | None = None
        self._index = 0
        self._size: tuple[int, int] | None = None
        self._chroma: ChromaFormat = "420"
        self._ref: fc.Reference | None = None
        self._sps: dict[tuple[int, int, bool, bool], int] = {}
        # One rANS coder per mode for the whole sequence: its buffers are reused frame to frame.
        self._coders = {two_ec: RansEncoder(two_ec) for two_ec in (False, True)}

    @property
    def frames_encoded(self) -> int:
        return self._index

    def next_plan(self) -> FramePlan:
        """The type and default qp of the frame :meth:`encode` codes next."""
        return plan_frame(self._index, self.settings)

    def snapshot(self) -> tuple:
        """The sequence state before a frame, for :meth:`restore` (a rate controller codes a frame again
        at another qp when it overflowed the decoder's buffer)."""
        skip = dataclasses.replace(self._skip) if self._skip is not None else None
        moves = dataclasses.replace(self._moves) if self._moves is not None else None
        return self._index, self._ref, skip, moves, dict(self._sps), self._size, self._chroma

    def restore(self, state: tuple) -> None:
        self._index, self._ref, skip, moves, sps, self._size, self._chroma = state
        self._skip = dataclasses.replace(skip) if skip is not None else None
        self._moves = dataclasses.replace(moves) if moves is not None else None
        self._sps = dict(sps)

    def encode(self, frame: Planes, qp: int | None = None) -> EncodedFrame:
        """Code the next frame; ``qp`` replaces the settings' qp for it (rate control)."""
        frame.validate()
        size = (frame.height, frame.width)
        if self._size is None:
            if not (0 < size[0] <= MAX_DIMENSION and 0 < size[1] <= MAX_DIMENSION):
                raise InputError(f"frame size {size[1]}x{size[0]} is outside 1..{MAX_DIMENSION}")
            self._size = size
            self._chroma = frame.chroma
        elif size != self._size:
            raise InputError(f"frame {self._index} is {size[1]}x{size[0]}, the sequence is "
                             f"{self._size[1]}x{self._size[0]}")
        elif frame.chroma != self._chroma:
            raise InputError(f"frame {self._index} is {frame.chroma}, the sequence is {self._chroma}")
        plan = plan_frame(self._index, self.settings)
        if qp is not None:
            top = INTRA_QP_COUNT - 1 if plan.frame_type == FrameType.I else INTER_QP_COUNT - 1
            if not 0 <= qp <= top:
                raise ConfigError("qp", qp, f"0..{top} for a {plan.frame_type.name} frame")
            plan = dataclasses.replace(plan, qp=qp)
        two_ec = self.settings.use_two_ec(*size)
        units: list[Unit] = []
        sps_id = self._sps_id(size, two_ec, plan.use_ada_i, units)

        enhanced = None
        with pinned(self.numerics):
            x = planes_to_tensor(frame, self.device)
            if plan.frame_type == FrameType.I:
                latent = None
                if self.intra_refine:
                    latent = refine_intra_latent(
                        self.model.intra, x, plan.qp, lambda_for_qp(plan.qp, self.model.lambda_max),
                        self.intra_refine, frame.height, frame.width, frame.chroma == "420",
                        self.intra_ctx.indexer.skip_threshold)
                layer = fc.LayerRequest(frame, self.layer_step16) if self.settings.layer else None
                payload, x_hat, enhanced = fc.encode_intra(self.model.intra, self.intra_ctx, x, plan.qp,
                                                           self._coders[two_ec], latent, layer)
                if enhanced is not None:
                    # the enhanced picture is what the decoder shows and predicts the next frame from
                    x_hat = planes_to_tensor(enhanced, self.device)
                self._ref = fc.Reference(frame=x_hat, feature=None, qp=plan.qp)
                self._skip = fc.SkipEstimate(lambda_max=self.model.lambda_max) if self.block_skip else None
                self._moves = fc.MotionEstimate(lambda_max=self.model.lambda_max) if self.motion else None
            else:
                assert self._ref is not None
                shown = self._ref.frame
                if plan.use_ada_i:
                    self._ref = fc.regenerate_reference(self.model.inter, self._ref)
                uses_shown = self._skip is not None or self._moves is not None
                layer = fc.LayerRequest(frame, self.layer_step16_p) if self.settings.layer else None
                payload, self._ref = fc.encode_inter(self.model.inter, self.inter_ctx, x, plan.qp, self._ref,
                                                     self._coders[two_ec], self.reconstruct, self._skip,
                                                     shown if uses_shown else None, self._moves, layer)
                x_hat = self._ref.frame
            if enhanced is not None:
                recon = enhanced
            else:
                recon = tensor_to_planes(x_hat, *size, self._chroma) if x_hat is not None else None
        units.append(FrameUnit(plan.frame_type, sps_id, plan.qp, payload))
        self._index += 1
        return EncodedFrame(plan, units, recon)

    def _sps_id(self, size: tuple[int, int], two_ec: bool, use_ada_i: bool, units: list[Unit]) -> int:
        key = (size[0], size[1], two_ec, use_ada_i)
        if key not in self._sps:
            if len(self._sps) > MAX_SPS_ID:
                raise ConfigError("sps", len(self._sps), f"at most {MAX_SPS_ID + 1} parameter sets per stream")
            self._sps[key] = len(self._sps)
            units.append(SpsUnit(self._sps[key], size[0], size[1], two_ec, use_ada_i, self.block_skip,
                                 self.motion, bool(self.settings.layer)))
        return self._sps[key]


class SequenceDecoder:
    """Decodes a DCVC-RT unit stream; needs nothing from the encoder but the skip threshold.

    ``chroma`` is the format the frames were coded in ("444" for RGB sources);
    like the skip threshold it is not in the DCVC-RT syntax, so the .nvc header carries it.
    """

    def __init__(self, model: CodecModel, skip_threshold: float | None, device: str = "auto",
                 numerics: str | None = None, chroma: ChromaFormat = "420") -> None:
        if chroma not in CHROMA_FORMATS:
            raise ConfigError("chroma", chroma, f"one of {', '.join(CHROMA_FORMATS)}")
        self.chroma = chroma
        self.device = resolve_device(device)
        self.numerics = _numerics_for(self.device, numerics)
        with pinned(self.numerics):
            self.model = model.to(self.device)
            self.intra_ctx, self.inter_ctx = _contexts(model, skip_threshold)
        self._sps: dict[int, SpsUnit] = {}
        self._ref: fc.Reference | None = None
        self._size: tuple[int, int] | None = None
        self.frames_decoded = 0

    def decode(self, unit: Unit) -> Planes | None:
        """The decoded frame for a frame unit, None for a parameter set."""
        if isinstance(unit, SpsUnit):
            if not (unit.height <= MAX_DIMENSION and unit.width <= MAX_DIMENSION):
                raise StreamError(f"SPS frame size {unit.width}x{unit.height} exceeds {MAX_DIMENSION}")
            self._sps[unit.sps_id] = unit
            return None
        sps = self._sps.get(unit.sps_id)
        if sps is None:
            raise StreamError(f"frame {self.frames_decoded} refers to undefined SPS {unit.sps_id}")
        size = (sps.height, sps.width)
        if self._size is not None and size != self._size and unit.frame_type == FrameType.P:
            raise StreamError(f"P frame {self.frames_decoded} changes the frame size without an I frame")
        enhanced = None
        with pinned(self.numerics):
            if unit.frame_type == FrameType.I:
                if unit.qp >= INTRA_QP_COUNT:
                    raise StreamError(f"I frame {self.frames_decoded} has qp {unit.qp} (0..{INTRA_QP_COUNT - 1})")
                x_hat, enhanced = fc.decode_intra(self.model.intra, self.intra_ctx, unit.payload, unit.qp, *size,
                                                  sps.ec_part, self.device, sps.layer, self.chroma)
                if enhanced is not None:
                    x_hat = planes_to_tensor(enhanced, self.device)
                self._ref = fc.Reference(frame=x_hat, feature=None, qp=unit.qp)
            else:
                if unit.qp >= INTER_QP_COUNT:
                    raise StreamError(f"P frame {self.frames_decoded} has qp {unit.qp} (0..{INTER_QP_COUNT - 1})")
                if self._ref is None:
                    raise StreamError(f"P frame {self.frames_decoded} has no reference (stream must start with I)")
                ref = self._ref
                if sps.use_ada_i:
                    ref = fc.regenerate_reference(self.model.inter, ref)
                self._ref = fc.decode_inter(self.model.inter, self.inter_ctx, unit.payload, unit.qp, *size,
                                            ref, sps.ec_part, self.device,
                                            shown=self._ref.frame if sps.block_skip or sps.motion else None,
                                            block_skips=sps.block_skip, moves=sps.motion, layer=sps.layer,
                                            chroma=self.chroma)
                x_hat = self._ref.frame
            self._size = size
            out = enhanced if enhanced is not None else tensor_to_planes(x_hat, *size, self.chroma)
        self.frames_decoded += 1
        return out

    def decode_stream(self, data: bytes) -> Iterator[Planes]:
        for unit in read_units(data):
            frame = self.decode(unit)
            if frame is not None:
                yield frame
