"""Named architecture configurations.

One code path builds every size of the DCVC-RT architecture; a config only
chooses widths and block counts.  The product knows three (:func:`product_config_names`):
``dcvc-rt`` reproduces the published model (and so loads ``cvpr2025_image.pth.tar`` /
``cvpr2025_video.pth.tar``), ``compact-skip-deep-intra`` is the architecture of nvc's own
shipped weights and ``compact-skip`` the one they grew from (its I frames half as deep).
``tiny`` is registered for tests only.  The configs training grows through on its way to
``compact-skip``, or tried beyond it, are not the product's: :mod:`nvcodec.training.lineage`
registers them when training runs.
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
    # sees, so it can only come from the reference (see nvcodec.training.lineage, COMPACT_VIEW128)
    encoder_view: int | None = None
    # hidden width of every block's FFN over the block's width, before its halves are folded
    # (DCVC-RT: 4).  The FFN holds three quarters of a block's multiply-adds
    ffn_expansion: int = 4
    # the reconstruction adds the previous decoded frame, modulated pixel by pixel by a map decoded
    # from the feature (not in DCVC-RT).  A narrow model sees its reference only through a lossy
    # projection, so without this a P frame of a still scene stays well under the frame it copies
    reference_skip: bool = False

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


@dataclass(frozen=True)
class ModelConfig:
    """A named pair of intra and inter architectures."""

    name: str
    intra: IntraConfig
    inter: InterConfig


DCVC_RT = ModelConfig("dcvc-rt", IntraConfig(), InterConfig())

#: nvc's own compact architecture, that of the shipped ``nvc-compact`` weights: sized for real-time-ish
#: CPU coding (1280x720 at 5 fps or better on 2 cores).  Its P frames blend in the previous decoded
#: frame through a decoded per-pixel gate (``InterConfig.reference_skip``).  Without it a P frame of a
#: still scene (foreman frame 0 repeated, qp 56) settled 2.8 dB under the I frame it repeats and still
#: paid 0.07 bpp a frame: the reference reaches the decoder only through ``feature``-wide projections.
#: Tried again on 2026-12-05 beside recipe stage 35 (3,000 steps, same samples, gate 20x): clips -2.4 %
#: against -0.9 %, P/I 0.721 -> 0.707, but 720p encode 5.05 -> 3.59 fps (bench/bench_transcode.py
#: --model), because the encoder then ran the reconstruction network on every P frame to follow the
#: pixel chain for resets.  Since 2026-12-05 a reset rebuilds its pixels from the stored feature
#: without the gate (``inter_codec.regenerate_reference``), and the encoder reconstructs nothing else.
#: Training reaches it from ``compact`` through the configs of :mod:`nvcodec.training.lineage`
#: (the last, ``compact-ffn2``, is this without the gate, which is grown in closed).
COMPACT_SKIP = ModelConfig(
    "compact-skip",
    IntraConfig(latent=128, hyper=64, feature=96, enc_blocks=2, dec_blocks=3, prior_fusion_blocks=1,
                spatial_prior_blocks=1),
    InterConfig(feature=96, latent=64, hyper=64, recon=128, extractor_conv1_blocks=1, extractor_conv2_blocks=1,
                encoder_conv2_blocks=1, decoder_conv1_blocks=1, recon_blocks=1, prior_fusion_blocks=1,
                spatial_prior_blocks=1, encoder_view=128, ffn_expansion=2, reference_skip=True),
)

#: the architecture of the shipped ``nvc-compact`` weights: ``compact-skip`` with twice the I-frame
#: analysis and synthesis depth (4 and 6 blocks at 1/8 resolution; latent and widths unchanged).  On a
#: development still at qp 63 the ``compact-skip`` synthesis reached 36.5 dB from the analysis' latent
#: unrounded and 37.7 dB from the best latent gradient descent found (still rising): both transforms
#: held the top back.  Grown from trained ``compact-skip`` weights (blocks added at the end of a stack
#: start as the identity, :mod:`nvcodec.training.grow`); P frames are ``compact-skip``'s.  It costs
#: only the I frames time: about twice their transforms' multiply-adds.
COMPACT_SKIP_DEEP_INTRA = ModelConfig(
    "compact-skip-deep-intra",
    dataclasses.replace(COMPACT_SKIP.intra, enc_blocks=4, dec_blocks=6),
    COMPACT_SKIP.inter,
)

#: the smallest useful shape of the architecture, for tests and smoke runs only (never listed as a
#: product config): registered so that ``synthetic:tiny:<seed>`` names it
TINY = ModelConfig(
    "tiny",
    IntraConfig(latent=32, hyper=16, feature=24, enc_blocks=1, dec_blocks=1, prior_fusion_blocks=1,
                spatial_prior_blocks=1),
    InterConfig(feature=24, latent=16, hyper=16, recon=24, extractor_conv1_blocks=1, extractor_conv2_blocks=1,
                encoder_conv2_blocks=1, decoder_conv1_blocks=1, recon_blocks=1, prior_fusion_blocks=1,
                spatial_prior_blocks=1),
)

#: the architectures the product codes with, by name
PRODUCT_CONFIGS: tuple[ModelConfig, ...] = (DCVC_RT, COMPACT_SKIP, COMPACT_SKIP_DEEP_INTRA)
#: registered for tests, not a product config
TEST_CONFIGS: tuple[ModelConfig, ...] = (TINY,)

_CONFIGS: dict[str, ModelConfig] = {c.name: c for c in (*PRODUCT_CONFIGS, *TEST_CONFIGS)}


def register_config(config: ModelConfig) -> None:
    """Make ``config`` available by name (training's lineage, tests' variants)."""
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
    """Every registered config: the product's, ``tiny``, and whatever training or a test registered."""
    return sorted(_CONFIGS)


def product_config_names() -> list[str]:
    """The architectures the product codes with (``nvc models``): the published one, nvc's shipped one and
    the one it was grown from."""
    return sorted(c.name for c in PRODUCT_CONFIGS)
