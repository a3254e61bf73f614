"""Coding settings: checked when made, resolved against the model once, before an encoder exists.

What the user asks for may leave two things to the model (whether P frames use block skip, and the
P frames' qp); :meth:`CodingSettings.resolve` decides both in one place, and the encoder, the .nvc
header, ``nvc info`` and the help text all take that one answer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nvcodec.errors import ConfigError
from nvcodec.numerics import DEFAULT_PROFILE, PROFILES

QP_MAX = 63
I32_MAX = (1 << 31) - 1
U32_MAX = (1 << 32) - 1
#: above this many pixels the encoder splits every symbol array over two rANS coders
TWO_EC_PIXELS = 1280 * 720
DEFAULT_SKIP_THRESHOLD = 0.12
#: how many qp under the I frame the P frames are coded when no P qp is given.  Every P frame of a
#: low-delay sequence predicts, through its predecessors, from the I frame, so a finer I frame pays
#: for itself (x264's ipratio does the same).  Chosen by whole-sequence BD-rate on training-split
#: clips (bench/probe_ip_offset.py, nvc-compact, 21 frames: offset 4 -0.5 %, 8 -1.1 %, 12 -1.5 %,
#: 16 -1.2 %, 24 -0.7 % against 0; over 64 frames, where the I frame is a smaller share, offset 12
#: came out even, +0.2 %).  DCVC-RT codes both at the same qp (explicit ``qp_p``).
P_QP_OFFSET = 12
#: the same with block skip, where a skipped block keeps the I frame's pixels for as long as the
#: scene holds still there, so the I frame's quality is worth more (bench/probe_ip_offset.py,
#: training-split clips, whole-sequence BD-rate against 12: offset 18 -1.9 % / -1.0 % / -0.7 % and
#: 24 -4.4 % / -2.3 % / -2.0 % over 21 / 64 / 150 frames; 30 against 24 over 64 frames -0.4 %)
P_QP_OFFSET_BLOCK_SKIP = 24


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: whether nvc's own models code with motion when the settings do not say: on the development clips
#: it saved 10.6 % on average with today's weights (bedroom -26.6 %, cockatoo -27.6 %, blocks +2.5 %,
#: vtest +9.2 %; bench/probes/probe_motion.py), at the same encode and decode speed
MOTION_BY_DEFAULT = True


#: above this I-frame qp the default offset narrows, evenly, to 0 at qp 63: the top of the range then
#: codes the P frames as finely as the I frame instead of stopping them at 63 - the offset (39 with
#: block skip), which capped a video's quality far under its I frame's.  On the development clips
#: (bench/probes/probe_ip_offset.py --offsets 24,k24/47, nvc-compact, 21 frames, motion on) qp 63 rose
#: 0.4-1.8 dB (bikes 43.98 -> 45.23, vtest 35.08 -> 35.46, bedroom 38.24 -> 39.52, blocks 35.19 ->
#: 35.55, cockatoo 41.64 -> 43.39 dB) for +0.9 % BD-rate where the curves overlap (qp 24-63): a
#: constant offset made the top of the range cheaper, but shorter
P_OFFSET_KNEE = 47


def default_p_offset(block_skip: bool) -> int:
    """How many qp under the I frame the P frames go when no P qp is given (up to P_OFFSET_KNEE)."""
    return P_QP_OFFSET_BLOCK_SKIP if block_skip else P_QP_OFFSET


#: the P frames' distance under the I frame when every frame carries a picture layer: the networks' P
#: frames far under the I frame leave the layer to code again what the I frame had (development clips,
#: I qp 40: 8 under gave 0.4 dB at equal rate on bikes and 0.1 dB on bedroom over the usual 24)
LAYER_P_QP_OFFSET = 8


#: a P frame's layer step over its I frame's when a step is given: the I frame's detail lives on in the
#: frames predicted from it, so it is worth finer steps (development clips: bikes 0.3 dB better at equal
#: rate, bedroom equal)
LAYER_P_STEP_RATIO = 1.5
#: above this -q, nvc's own models code I frames with the networks at this qp plus a picture layer whose
#: step falls as -q rises: the networks' stills stop near 34-38 dB whatever their qp, and the layer goes
#: on past x264's top.  On development stills the layer over qp 40 beat the networks' own qps 44-63 at
#: equal rates (bench/probes/probe_quality_scale.py: knee 40 -2.2 % against the networks alone, 48 -0.8 %)
LAYER_KNEE = 40
#: above this -q the P frames carry a layer too (under it, their qp follows the networks' own rule at
#: -q).  A P frame's layer re-codes what the networks left in every frame, which costs more than the
#: networks' own finer qps in the range both reach (development clips: a knee of 40 for both frame types
#: +12.2 % against the networks alone, 48 +4.2 %, 52 +1.3 %), so the P frames take it only at the top
LAYER_P_KNEE = 52
#: the layers' steps (grey levels) at -q 63, I and P frames; from 64 just above each knee the step falls
#: geometrically to these.  -q 63 lands where x264 crf 18-20 does on development sources: stills, where
#: crf 18 gives 38.7-43.0 dB, want an I step near 11 (5 gave 45-48 dB at twice the bits); on the clips
#: (crf 18: 47.2 and 52.0 dB) a P step of 7.5 gave 47.0 and 49.9 dB, and 5 gave 47.9 and 50.3 dB for
#: 30-75 % more bits at the top (+55.0 % against x264 where the curves overlap, against +47.6 %)
LAYER_TOP_STEP = 11.0
LAYER_P_TOP_STEP = 7.5


def _falling_step(level: int, knee: int, top: float) -> float | None:
    if level <= knee:
        return None
    step = top * (64 / top) ** ((QP_MAX - level) / (QP_MAX - knee))
    return min(64.0, round(step * 16) / 16)


def level_layer_step(level: int) -> float | None:
    """The I frames' picture layer step at ``-q level`` with a model that takes the layer (None: no
    layer), in the sixteenths the stream carries."""
    return _falling_step(level, LAYER_KNEE, LAYER_TOP_STEP)


def level_p_layer_step(level: int) -> float | None:
    """The P frames' picture layer step at ``-q level`` (None: none)."""
    return _falling_step(level, LAYER_P_KNEE, LAYER_P_TOP_STEP)


def default_p_qp(qp_i: int, block_skip: bool) -> int:
    """The P frames' base qp under an I frame at ``qp_i`` when no P qp is given: the default offset
    under it (at least 0), the offset narrowing above P_OFFSET_KNEE to 0 at qp 63 (rounded half up)."""
    offset = default_p_offset(block_skip)
    if qp_i > P_OFFSET_KNEE:
        span = QP_MAX - P_OFFSET_KNEE
        offset = (offset * (QP_MAX - qp_i) + span // 2) // span
    return max(0, qp_i - offset)


#: the most steps ``--intra-refine`` takes (each a forward and a backward pass of the I-frame model;
#: see :mod:`nvcodec.codec.latent_refine`).  An encoder effort, not a stream setting: the stream does not
#: record it, so it is no field of :class:`CodingSettings`.
MAX_INTRA_REFINE = 1000


def check_intra_refine(value: object) -> int:
    """An ``intra_refine`` effort, or :class:`ConfigError` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INTRA_REFINE:
        raise ConfigError("intra_refine", value, f"an integer 0..{MAX_INTRA_REFINE} (0: off)")
    return value


@dataclass(frozen=True)
class CodingSettings:
    """How a sequence is coded.

    qp runs 0..63 and, as in DCVC-RT, *higher is better quality*.  ``qp_p`` None
    puts the P frames ``P_QP_OFFSET`` under ``qp_i`` (``P_QP_OFFSET_BLOCK_SKIP`` with block
    skip; floored at 0, narrowing to 0 at the top: :func:`default_p_qp`), decided by
    :meth:`resolve`.  P frames add
    the hierarchical shift (+8, +4, 0 by position in each group of 8), so their
    coded qp reaches 71.  ``intra_period`` -1 means a single I frame;
    ``reset_interval`` 0 disables the periodic pixel-domain reference reset.
    ``two_ec`` None chooses two coders for frames above 1280x720.
    ``skip_threshold`` (DCVC-RT's force_zero_thres) is not in the DCVC-RT
    stream, so the decoder must be given the same value (the .nvc header carries it).
    ``block_skip`` (nvc's, see :mod:`nvcodec.codec.block_skip`; the encoder then reconstructs every
    P frame to choose): None uses it with nvc's own models (those whose P frames blend in the
    previous decoded frame) and not with DCVC-RT's, whose streams keep DCVC-RT's syntax; True with
    any model; False never.  ``motion`` (nvc's, see :mod:`nvcodec.codec.motion`: P frames carry a
    vector per 16x16 block and the reference is moved by them; the encoder then reconstructs every P
    frame): None uses it with nvc's own models (:data:`MOTION_BY_DEFAULT`) and not with DCVC-RT's;
    True with any model; False never.  ``layer_step`` (nvc's, see :mod:`nvcodec.codec.picture_layer`):
    every frame also carries a picture layer, the residual quantised in steps of this many grey levels
    (1..64, in 1/16), over the networks at ``qp_i``; None: as ``layer`` says.  ``layer_step_p``: the P
    frames' step (None while ``layer`` is None: :data:`LAYER_P_STEP_RATIO` times ``layer_step``; once
    resolved: no layer on P frames).  ``layer``: whether ``qp_i`` above :data:`LAYER_KNEE` means the
    networks at the knee plus a layer at :func:`level_layer_step` and :func:`level_p_layer_step` (one
    quality scale from the networks' bottom to past x264's top); None: with nvc's own models, not with
    DCVC-RT's; False: ``qp_i`` is the networks' qp throughout.
    """

    qp_i: int = 32
    qp_p: int | None = None  # None: default_p_qp(qp_i, block_skip), or LAYER_P_QP_OFFSET under a layer
    intra_period: int = -1
    reset_interval: int = 64
    two_ec: bool | None = None
    skip_threshold: float | None = DEFAULT_SKIP_THRESHOLD
    numerics: str = DEFAULT_PROFILE
    block_skip: bool | None = None
    motion: bool | None = None
    layer_step: float | None = None
    layer_step_p: float | None = None
    layer: bool | None = None

    def __post_init__(self) -> None:
        # every field is checked against the type and the field size the .nvc header stores it in
        # (qp u8, intra_period i32, reset_interval u32, skip_threshold f64), so a setting that passes
        # here can always be written, and one that cannot fails here with its name
        for key in ("qp_i", "qp_p"):
            value = getattr(self, key)
            if value is None and key == "qp_p":
                continue
            if not _is_int(value) or not 0 <= value <= QP_MAX:
                raise ConfigError(key, value, f"an integer 0..{QP_MAX} (higher is better quality)")
        if not _is_int(self.intra_period) or not (self.intra_period == -1 or 1 <= self.intra_period <= I32_MAX):
            raise ConfigError("intra_period", self.intra_period, f"-1 (one I frame) or a period 1..{I32_MAX}")
        if not _is_int(self.reset_interval) or not 0 <= self.reset_interval <= U32_MAX:
            raise ConfigError("reset_interval", self.reset_interval, f"an integer 0..{U32_MAX} (0 disables resets)")
        if self.two_ec is not None and not isinstance(self.two_ec, bool):
            raise ConfigError("two_ec", self.two_ec, "None (by frame size), true or false")
        skip = self.skip_threshold
        if skip is not None and (isinstance(skip, bool) or not isinstance(skip, (int, float))
                                 or not 0.0 <= float(skip) < 16.0):
            raise ConfigError("skip_threshold", skip, "None or a scale in [0, 16)")
        for key in ("layer_step", "layer_step_p"):
            step = getattr(self, key)
            if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float))
                                     or not 1.0 <= float(step) <= 64.0
                                     or float(step) * 16 != round(float(step) * 16)):
                raise ConfigError(key, step, "None or grey levels 1..64 in sixteenths")
        if not (self.block_skip is None or isinstance(self.block_skip, bool)):
            raise ConfigError("block_skip", self.block_skip, "None (by model), true or false")
        if not (self.motion is None or isinstance(self.motion, bool)):
            raise ConfigError("motion", self.motion, "None (by model), true or false")
        if not (self.layer is None or isinstance(self.layer, bool)):
            raise ConfigError("layer", self.layer, "None (by model), true or false")
        if self.layer is False and (self.layer_step is not None or self.layer_step_p is not None):
            raise ConfigError("layer", self.layer, "true or None with a layer step")
        if not isinstance(self.numerics, str) or self.numerics not in PROFILES:
            raise ConfigError("numerics", self.numerics, f"one of {', '.join(PROFILES)}")

    @property
    def is_resolved(self) -> bool:
        return (self.qp_p is not None and self.block_skip is not None and self.motion is not None
                and self.layer is not None)

    @property
    def base_qp_p(self) -> int:
        """The P frames' base qp; only resolved settings have one (the default depends on the model)."""
        if self.qp_p is None:
            raise ConfigError("qp_p", None, "settings resolved against a model first (CodingSettings.resolve)")
        return self.qp_p

    def resolve(self, inter_config) -> CodingSettings:
        """These settings as a model with this P-frame config codes them: a level above the knee turned
        into the networks' qps and the layer's steps, block skip decided, P qp filled in
        (:data:`LAYER_P_QP_OFFSET` under the I frame with a layer step given, else :func:`default_p_qp`).
        Resolving resolved settings changes nothing."""
        block_skip = self.block_skip_for(inter_config)
        qp_i, qp_p, step, step_p = self.qp_i, self.qp_p, self.layer_step, self.layer_step_p
        if self.layer is None:
            step_p = self._p_step_from_i()
        if step is None and step_p is None and self.layer_for(inter_config) and self.qp_i > LAYER_KNEE:
            level = self.qp_i
            qp_i, step, step_p = LAYER_KNEE, level_layer_step(level), level_p_layer_step(level)
            if qp_p is None:
                qp_p = default_p_qp(min(level, LAYER_P_KNEE), block_skip)
        elif qp_p is None:
            qp_p = max(0, qp_i - LAYER_P_QP_OFFSET) if step is not None else default_p_qp(qp_i, block_skip)
        layer = step is not None or step_p is not None
        return dataclasses.replace(self, qp_i=qp_i, qp_p=qp_p, layer_step=step, layer_step_p=step_p, layer=layer,
                                   block_skip=block_skip, motion=self.motion_for(inter_config))

    def for_rate_control(self) -> CodingSettings:
        """These settings under a rate controller, whose levels are the networks' qps frame by frame: a
        layer only where a step was given."""
        if self.layer is not None:
            return self
        step_p = self._p_step_from_i()
        return dataclasses.replace(self, layer_step_p=step_p, layer=self.layer_step is not None or step_p is not None)

    def _p_step_from_i(self) -> float | None:
        """The P frames' step where only the I frames' was given: LAYER_P_STEP_RATIO times it."""
        if self.layer_step is None or self.layer_step_p is not None:
            return self.layer_step_p
        return min(64.0, round(self.layer_step * LAYER_P_STEP_RATIO * 16) / 16)

    def layer_for(self, inter_config) -> bool:
        """Whether -q above the knee reaches for the picture layer with a model of this P-frame config: by
        default with nvc's own models, never with DCVC-RT's, whose streams keep DCVC-RT's syntax."""
        return bool(inter_config.reference_skip) if self.layer is None else self.layer

    def block_skip_for(self, inter_config) -> bool:
        """Whether a sequence coded with these settings by a model with this P-frame config skips blocks:
        by default with nvc's own models (whose P frames blend in the previous decoded frame), never with
        DCVC-RT's, whose streams keep DCVC-RT's syntax."""
        return bool(inter_config.reference_skip) if self.block_skip is None else self.block_skip

    def motion_for(self, inter_config) -> bool:
        """Whether P frames coded with these settings by a model with this P-frame config carry motion."""
        if self.motion is not None:
            return self.motion
        return MOTION_BY_DEFAULT and bool(inter_config.reference_skip)

    def use_two_ec(self, height: int, width: int) -> bool:
        return self.two_ec if self.two_ec is not None else height * width > TWO_EC_PIXELS
