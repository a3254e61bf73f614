"""Named architecture configurations.

One code path builds every size of the DCVC-RT architecture; a config only
chooses widths and block counts.  ``dcvc-rt`` reproduces the published model
(and so loads ``cvpr2025_image.pth.tar`` / ``cvpr2025_video.pth.tar``); smaller
configs trade quality for CPU speed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nvcodec.errors import ModelError

#: qp rows of the intra model's per-qp parameters (qp 0..63).
INTRA_QP_COUNT = 64
#: The inter model also needs the hierarchical shifts (+8 at most): qp 0..71.
P_QP_SHIFTS = (0, 8, 4)
INTER_QP_COUNT = INTRA_QP_COUNT + max(P_QP_SHIFTS)


@dataclass(frozen=True)
class IntraConfig:
    """Widths and depths of the intra model (DMCI)."""

    latent: int = 256  # y channels (N); four spatial-context groups of latent // 4
    hyper: int = 128  # z channels
    feature: int = 368  # width of the 1/8-resolution feature domain
    enc_blocks: int = 6
    dec_blocks: int = 12
    prior_fusion_blocks: int = 3
    spatial_prior_blocks: int = 3

    def validate(self) -> None:
        if self.latent % 4 or self.latent <= 0:
            raise ModelError(f"intra latent channels must be a positive multiple of 4, got {self.latent}")


@dataclass(frozen=True)
class InterConfig:
    """Widths and depths of the inter model (DMC)."""

    feature: int = 256  # g_ch_d: reference feature / context width at 1/8
    latent: int = 128  # y channels; two spatial-context groups of latent // 2
    hyper: int = 128  # z channels
    recon: int = 320  # width of the reconstruction network
    extractor_conv1_blocks: int = 2
    extractor_conv2_blocks: int = 4
    encoder_conv2_blocks: int = 2
    decoder_conv1_blocks: int = 3
    recon_blocks: int = 4
    prior_fusion_blocks: int = 3
    spatial_prior_blocks: int = 2
    # width of the encoder's first layer, the 1x1 projection of each 8x8 block of the frame being
    # coded (None: ``feature``, as in DCVC-RT).  Whatever that projection drops the encoder never
    # sees, so it can only come from the reference (see COMPACT_VIEW128)
    encoder_view: int | None = None
    # hidden width of every block's FFN over the block's width, before its halves are folded
    # (DCVC-RT: 4).  The FFN holds three quarters of a block's multiply-adds
    ffn_expansion: int = 4
    # the reconstruction adds the previous decoded frame, modulated pixel by pixel by a map decoded
    # from the feature (not in DCVC-RT).  A narrow model sees its reference only through a lossy
    # projection, so without this a P frame of a still scene stays well under the frame it copies
    reference_skip: bool = False
    # the decoder's output feature blends in the previous frame's decoded feature, modulated per
    # position and channel by a map decoded from its hidden state (not in DCVC-RT).  That feature is
    # what the reconstruction network turns into pixels, so a still block is copied exactly without
    # any pixel work on the encoder (reference_skip needs the reconstruction on every frame)
    feature_skip: bool = False
    # the reference_skip gate, but blending in the anchor (the decoded pixels of the last I frame or
    # reset) rather than the previous decoded frame (not in DCVC-RT).  The anchor is a picture the
    # encoder holds anyway, so unlike reference_skip the encoder never runs the reconstruction network
    # for it; and with the P frames coded under the I frame's qp the anchor is also the finest copy
    anchor_skip: bool = False
    # the pixel gate also sees, per 8x8 block and plane, how far the head's output lies from the picture
    # it would blend in (not in DCVC-RT).  A gate decoded from the feature alone learned one compromise
    # for every block (luma about 0.2, chroma 0.8 on a still scene and on a moving one alike), so a
    # still block is neither copied nor cheap; where the head already lands near the reference the
    # block has hardly changed, and the decoder can see that without a bit being sent
    gate_sees_change: bool = False

    @property
    def view(self) -> int:
        return self.feature if self.encoder_view is None else self.encoder_view

    def validate(self) -> None:
        if self.latent % 2 or self.latent <= 0:
            raise ModelError(f"inter latent channels must be a positive even number, got {self.latent}")
        if self.view <= 0:
            raise ModelError(f"inter encoder view must be a positive width, got {self.view}")
        if self.ffn_expansion < 2 or self.ffn_expansion % 2:
            raise ModelError(f"inter FFN expansion must be an even number of at least 2, got {self.ffn_expansion}")
        if self.reference_skip and self.anchor_skip:
            raise ModelError("an inter model's pixel gate blends in the previous frame or the anchor, not both")
        if self.gate_sees_change and not self.pixel_gate:
            raise ModelError("gate_sees_change needs a pixel gate (reference_skip or anchor_skip)")

    @property
    def pixel_gate(self) -> bool:
        return self.reference_skip or self.anchor_skip


@dataclass(frozen=True)
class ModelConfig:
    """A named pair of intra and inter architectures."""

    name: str
    intra: IntraConfig
    inter: InterConfig


DCVC_RT = ModelConfig("dcvc-rt", IntraConfig(), InterConfig())

#: sized for real-time-ish CPU coding: 1280x720 at 5 fps or better on 2 cores
COMPACT = ModelConfig(
    "compact",
    IntraConfig(latent=128, hyper=64, feature=96, enc_blocks=2, dec_blocks=3, prior_fusion_blocks=1,
                spatial_prior_blocks=1),
    InterConfig(feature=64, latent=64, hyper=64, recon=64, extractor_conv1_blocks=1, extractor_conv2_blocks=1,
                encoder_conv2_blocks=1, decoder_conv1_blocks=1, recon_blocks=1, prior_fusion_blocks=1,
                spatial_prior_blocks=1),
)

#: ``compact`` with a 128-wide P-frame reconstruction network.  At 64 the recon head's 1x1 convolution
#: confines every decoded 8x8 block to one fixed 64-dimensional affine subspace, and training found a
#: poor one (bench/probe_ceilings.py); at 128 that bound is out of the way.  It costs about 25 % more
#: P-frame decode time and nothing on encode.
#: Grown from a trained ``compact`` model by :mod:`nvcodec.training.grow`.
COMPACT_RECON128 = ModelConfig("compact-recon128", COMPACT.intra, dataclasses.replace(COMPACT.inter, recon=128))

#: ``compact-recon128`` with an 80-wide P-frame feature path.  A P frame sees its reference only
#: through that feature (``feature_adaptor_i`` projects each 8x8 block of the reference to ``feature``
#: values) and is decoded from it, so at 64 it stays about 3 dB under the I frame it follows even on
#: a still scene (evaluation, 2026-12-02).  80 costs about 10 % more CPU per 720p P frame
#: (bench/bench_widths.py), what the in-place inference of the same day saved.
#: Grown from a trained ``compact-recon128`` model by :mod:`nvcodec.training.grow`.
COMPACT_FEATURE80 = ModelConfig("compact-feature80", COMPACT.intra, dataclasses.replace(COMPACT_RECON128.inter,
                                                                                      feature=80))

#: ``compact-feature80`` whose P-frame encoder sees each 8x8 block of the frame through 128 values.
#: At 80 the trained projection kept only 24.5-29 dB of the frame (bench/probe_ceilings.py,
#: ``encoder_view``; the best 80-value projection keeps about 60 dB): the rest must be guessed from
#: the reference, so P frames levelled off near 31 dB on foreman at any qp while the I frame reached
#: 34.7.  The extra 48 values cost only the encoder's first two 1x1 layers.
#: Grown from a trained ``compact-feature80`` model by :mod:`nvcodec.training.grow`.
COMPACT_VIEW128 = ModelConfig("compact-view128", COMPACT.intra, dataclasses.replace(COMPACT_FEATURE80.inter,
                                                                                  encoder_view=128))

#: ``compact-view128`` with a 96-wide P-frame feature path: 96 is the number of samples in an 8x8
#: block of 4:2:0 video, so the feature is wide enough to carry a reference block whole.  At
#: 80, with a perfect reference and no quantisation, P frames still stayed 2-6 dB under the I frame
#: (bench/probe_ceilings.py, ``p_copy``).  It cost about 15 % more CPU per 720p P-frame encode and
#: little on decode (bench/bench_widths.py); recipe stages 15 + 16 with it gave clips -7.1 %.
#: Grown from a trained ``compact-view128`` model by :mod:`nvcodec.training.grow`.
COMPACT_FEATURE96 = ModelConfig("compact-feature96", COMPACT.intra, dataclasses.replace(COMPACT_VIEW128.inter,
                                                                                      feature=96))

#: ``compact-feature96`` with every P-frame FFN at twice its block's width instead of four times.
COMPACT_FFN2 = ModelConfig("compact-ffn2", COMPACT.intra, dataclasses.replace(COMPACT_FEATURE96.inter,
                                                                          ffn_expansion=2))

#: ``compact-ffn2`` whose P frames blend in the previous decoded frame through a decoded per-pixel gate
#: (``InterConfig.reference_skip``).  Without it a P frame of a still scene (foreman frame 0 repeated,
#: qp 56) settled 2.8 dB under the I frame it repeats and still paid 0.07 bpp a frame: the reference
#: reaches the decoder only through ``feature``-wide projections.
#: Grown from a trained ``compact-ffn2`` model by :mod:`nvcodec.training.grow` (the gate starts at zero).
#: Tried again on 2026-12-05 beside recipe stage 35 (3,000 steps, same samples, gate 20x): clips -2.4 %
#: against -0.9 %, P/I 0.721 -> 0.707, but 720p encode 5.05 -> 3.59 fps (bench/bench_transcode.py
#: --model), because the encoder then ran the reconstruction network on every P frame to follow the
#: pixel chain for resets.  Since 2026-12-05 a reset rebuilds its pixels from the stored feature
#: without the gate (``frame_coding.regenerate_reference``), and the encoder reconstructs nothing else.
COMPACT_SKIP = ModelConfig("compact-skip", COMPACT.intra, dataclasses.replace(COMPACT_FFN2.inter,
                                                                          reference_skip=True))

#: ``compact-skip`` with a P-frame latent of 80 channels instead of 64.  At high rates a P frame
#: nears a ceiling its latent sets: on foreman frame 2 (I frame 0 at qp 63, 36.8 dB) the P frame at
#: qp 51 codes 34.5 dB for 18,600 bits, its encoder's unquantised latent would give 35.4 dB and the
#: best latent there is (gradient descent, no rate) 36.5, while an I frame of that picture at qp 51
#: gives 35.8 dB for 24,300: 64 values per 16x16 block against the I frames' 128.
#: Grown from a trained ``compact-skip`` model by :mod:`nvcodec.training.grow` (each context half of
#: the latent grows at its end; nothing reads the new channels at first).  Tried on 2026-12-05 beside
#: recipe stage 51 (same weights and samples, gate 20x) and not shipped: clips +0.8 % against +0.7 %
#: without it, the new channels barely in use after 3,000 steps, for x1.17 encode / x1.20 decode CPU per
#: 720p P frame (bench/bench_widths.py --base compact-skip --field latent): it needs a long run.
COMPACT_SKIP_Y80 = ModelConfig("compact-skip-y80", COMPACT.intra, dataclasses.replace(COMPACT_SKIP.inter,
                                                                                  latent=80))

#: ``compact-skip`` whose pixel gate also sees how far the head's output lies from the previous decoded
#: frame, per 8x8 block and plane (``InterConfig.gate_sees_change``).  The trained ``compact-skip`` gate
#: is about 0.2 on luma and 0.8 on chroma whatever the content: on a still picture (foreman frame 0 coded
#: again, qp 63) the P frame pays 10,600 bits and lands at 35.8 dB under the 36.8 of the frame it
#: repeats, and raising the luma gate by 0.6 would give 36.9 there but 30.7 instead of 35.1 dB on the
#: next, moving, frame.  Costs the decoder one 3-input 1x1 convolution at 1/8 resolution.
#: Grown from a trained ``compact-skip`` model by :mod:`nvcodec.training.grow` (the new weights start at zero).
#: Tried on 2026-12-05 beside recipe stage 55 (same weights and samples, P qps 0-51) and not shipped:
#: development clips -4.9 % against -5.4 % without it.  The distance it sees measures texture more than
#: motion (foreman's still and moving frames give overlapping distributions), so it cannot tell a still
#: block from a moving one; that has to be signalled.
COMPACT_SKIP_CHANGE = ModelConfig("compact-skip-change", COMPACT.intra,
                                  dataclasses.replace(COMPACT_SKIP.inter, gate_sees_change=True))

#: ``compact-ffn2`` with a second block in the P-frame decoder (the network that turns the latent and the
#: temporal context into the next reference feature).  Even a latent optimised freely (no rate) could not
#: make that network's output better than 0.6 dB under a perfect reference of a still frame (foreman,
#: qp 63), where the reconstruction network alone, given the right feature, reproduces that reference
#: at 48.7 dB (bench/probe_decoder_ceiling.py), so the single decoder block was the suspect.
#: Grown from a trained ``compact-ffn2`` model by :mod:`nvcodec.training.grow` (the new block starts as
#: the identity).  Tried on 2026-12-05 and not shipped: 3,000 P-frame steps from the same samples gave
#: clips -2.1 % against -2.0 % without it (validation 0.3686 against 0.3683), for 0.68 GMAC more per
#: 720p P frame on both sides (CPU x1.26 encode / x1.13 decode, bench/bench_widths.py); so at this
#: training budget depth there is not what the P frames lack.
COMPACT_DEC2 = ModelConfig("compact-dec2", COMPACT.intra, dataclasses.replace(COMPACT_FFN2.inter,
                                                                          decoder_conv1_blocks=2))

#: ``compact-ffn2`` whose P-frame decoder can hand the previous frame's feature on unchanged
#: (``InterConfig.feature_skip``).  With the source equal to its reference (foreman frame 0 coded
#: again as a P frame, qp 63) ``compact-ffn2`` reproduces that reference at only 37.9 dB for a quarter
#: of the I frame's bits, and the P frames after it at 37.4 dB for an eighth (bench/probe_copy.py):
#: the 96-wide path from reference through context and decoder cannot carry a picture through
#: unharmed, which caps the P frames 2-3 dB under their I frame.  The pixel-domain skip
#: (``compact-skip``) fixes the same thing but costs the encoder the reconstruction network on every
#: frame (encode 5.05 -> 3.59 fps at 720p); this gate costs one 1x1 convolution at 1/8 resolution.
#: Grown from a trained ``compact-ffn2`` model by :mod:`nvcodec.training.grow` (the gate starts at zero).
#: Tried on 2026-12-05 and not shipped: beside recipe stage 37, from the same weights and samples, it
#: gave clips -2.0 % against -2.1 % without it (gate rate 20x); the gate hardly opened (bias 0.014 after
#: 700 steps) and the copy test did not move, so the training data does not reward a copy.
COMPACT_FSKIP = ModelConfig("compact-fskip", COMPACT.intra, dataclasses.replace(COMPACT_FFN2.inter,
                                                                            feature_skip=True))

#: ``compact-ffn2`` whose P frames blend in the anchor (the last I frame or reset, decoded) through a
#: decoded per-pixel gate (``InterConfig.anchor_skip``).  The pixel skip (``compact-skip``) lifted the
#: P frames' copy ceiling but cost the encoder the reconstruction network on every frame; the anchor
#: is already in the encoder's hands, so this gate costs the decoder one 1x1 convolution (720p decode
#: 6.61 -> 6.33 fps) and the encoder nothing (6.07 -> 6.00, bench/bench_transcode.py --model).
#: Grown from a trained ``compact-ffn2`` model by :mod:`nvcodec.training.grow` (the gate starts at zero).
#: Tried on 2026-12-05 and not shipped: beside recipe stage 45 (same weights and samples, gate 20x)
#: it took the validation loss to 0.327 against 0.352 and Cisco -5.9 %, but REDS +27.8 %: there the
#: P frames fall from 29.5 to 26.0 dB by frame 12 (29.0 -> 28.8 without it), and with the gate zeroed
#: they come back, so the gate opens on an anchor that the slowly moving picture has left.  It is
#: decoded from the latent, and the encoder that writes the latent never sees the anchor; a gate
#: term on the distance between anchor and output did not help (REDS worse still).
COMPACT_ANCHOR = ModelConfig("compact-anchor", COMPACT.intra, dataclasses.replace(COMPACT_FFN2.inter,
                                                                              anchor_skip=True))

#: the smallest useful shape of the architecture: for tests and smoke runs, not for pictures
TINY = ModelConfig(
    "tiny",
    IntraConfig(latent=32, hyper=16, feature=24, enc_blocks=1, dec_blocks=1, prior_fusion_blocks=1,
                spatial_prior_blocks=1),
    InterConfig(feature=24, latent=16, hyper=16, recon=24, extractor_conv1_blocks=1, extractor_conv2_blocks=1,
                encoder_conv2_blocks=1, decoder_conv1_blocks=1, recon_blocks=1, prior_fusion_blocks=1,
                spatial_prior_blocks=1),
)

_CONFIGS: dict[str, ModelConfig] = {
    c.name: c
    for c in (DCVC_RT, COMPACT, COMPACT_RECON128, COMPACT_FEATURE80, COMPACT_VIEW128, COMPACT_FEATURE96, COMPACT_FFN2,
              COMPACT_SKIP, COMPACT_SKIP_CHANGE, COMPACT_SKIP_Y80, COMPACT_DEC2, COMPACT_FSKIP, COMPACT_ANCHOR, TINY)
}


def register_config(config: ModelConfig) -> None:
    """Make ``config`` available by name (used by the compact default model)."""
    config.intra.validate()
    config.inter.validate()
    _CONFIGS[config.name] = config


def get_config(name: str) -> ModelConfig:
    try:
        return _CONFIGS[name]
    except KeyError:
        known = ", ".join(sorted(_CONFIGS))
        raise ModelError(f"unknown model config {name!r} (known: {known})") from None


def config_names() -> list[str]:
    return sorted(_CONFIGS)
