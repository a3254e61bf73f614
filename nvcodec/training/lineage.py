"""The configs the training recipe grows through on its way to ``compact-skip``.

Training on two CPU cores cannot afford to start a wider model from scratch, so the
recipe (:mod:`nvcodec.training.recipe`, ``StageConfig.config``) starts from ``compact``
and grows or narrows the trained model one step at a time (:mod:`nvcodec.training.grow`,
:mod:`nvcodec.training.prune`) until it reaches ``compact-skip``, then the shipped architecture.  Those
intermediate configs are training's, not the product's: nothing ships in them, so
they live here and :func:`register_lineage` makes them known by name (``get_config``)
when training code is imported (``nvcodec.training`` calls it), for the recipe, for
resuming checkpoints and for ``nvc train --config``.

Up to ``compact-skip`` every config shares that model's intra architecture and only the P-frame model
grows; ``compact-skip-i256`` then widened the intra model for the quality range (retired), and
``compact-skip-deep-intra`` (a product config: the shipped weights' since they paid) deepened its
transforms instead.
"""

from __future__ import annotations

import dataclasses

from nvcodec.models.config import COMPACT_SKIP, COMPACT_SKIP_DEEP_INTRA, InterConfig, ModelConfig, register_config

#: where the recipe starts, sized for real-time-ish CPU coding: 1280x720 at 5 fps or better on 2 cores
COMPACT = ModelConfig(
    "compact",
    COMPACT_SKIP.intra,
    InterConfig(feature=64, latent=64, hyper=64, recon=64, extractor_conv1_blocks=1, extractor_conv2_blocks=1,
                encoder_conv2_blocks=1, decoder_conv1_blocks=1, recon_blocks=1, prior_fusion_blocks=1,
                spatial_prior_blocks=1),
)

#: ``compact`` with a 128-wide P-frame reconstruction network.  At 64 the recon head's 1x1 convolution
#: confines every decoded 8x8 block to one fixed 64-dimensional affine subspace, and training found a
#: poor one (a retired probe); at 128 that bound is out of the way.  It costs about 25 % more
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
#: At 80 the trained projection kept only 24.5-29 dB of the frame (a retired probe,
#: ``encoder_view``; the best 80-value projection keeps about 60 dB): the rest must be guessed from
#: the reference, so P frames levelled off near 31 dB on foreman at any qp while the I frame reached
#: 34.7.  The extra 48 values cost only the encoder's first two 1x1 layers.
#: Grown from a trained ``compact-feature80`` model by :mod:`nvcodec.training.grow`.
COMPACT_VIEW128 = ModelConfig("compact-view128", COMPACT.intra, dataclasses.replace(COMPACT_FEATURE80.inter,
                                                                                  encoder_view=128))

#: ``compact-view128`` with a 96-wide P-frame feature path: 96 is the number of samples in an 8x8
#: block of 4:2:0 video, so the feature is wide enough to carry a reference block whole.  At
#: 80, with a perfect reference and no quantisation, P frames still stayed 2-6 dB under the I frame
#: (a retired probe, ``p_copy``).  It cost about 15 % more CPU per 720p P-frame encode and
#: little on decode (bench/bench_widths.py); recipe stages 15 + 16 with it gave clips -7.1 %.
#: Grown from a trained ``compact-view128`` model by :mod:`nvcodec.training.grow`.
COMPACT_FEATURE96 = ModelConfig("compact-feature96", COMPACT.intra, dataclasses.replace(COMPACT_VIEW128.inter,
                                                                                      feature=96))

#: ``compact-feature96`` with every P-frame FFN at twice its block's width instead of four times
#: (narrowed by :mod:`nvcodec.training.prune`).  ``compact-skip`` is this with the pixel gate grown in.
COMPACT_FFN2 = ModelConfig("compact-ffn2", COMPACT.intra, dataclasses.replace(COMPACT_FEATURE96.inter,
                                                                          ffn_expansion=2))

#: ``compact-skip`` with a 256-wide I-frame latent and a 128-wide I-frame feature domain.  At 128
#: latent values per 16x16 block (384 samples of 4:2:0 video) the intra model stopped at 34-36 dB on
#: the development stills even with its latent unrounded (bench/probes/probe_intra_ceiling.py), and
#: 6,000 steps at the wide lambda range moved qp 63 by only 0.4-1.3 dB: the transforms set the
#: ceiling, not lambda.  256 is DCVC-RT's latent width.  Grown from trained ``compact-skip`` weights.
COMPACT_SKIP_I256 = ModelConfig(
    "compact-skip-i256",
    dataclasses.replace(COMPACT_SKIP.intra, latent=256, feature=128),
    COMPACT_SKIP.inter,
)

#: the recipe's configs in the order it reaches them; ``compact-skip`` (a product config) follows
LINEAGE: tuple[ModelConfig, ...] = (COMPACT, COMPACT_RECON128, COMPACT_FEATURE80, COMPACT_VIEW128,
                                    COMPACT_FEATURE96, COMPACT_FFN2)
#: configs the recipe grows into from ``compact-skip`` (the deep-intra one shipped, so the product
#: registers it itself)
BEYOND_COMPACT_SKIP: tuple[ModelConfig, ...] = (COMPACT_SKIP_I256, COMPACT_SKIP_DEEP_INTRA)


def register_lineage() -> None:
    """Make the lineage's configs known to ``get_config`` (idempotent)."""
    for config in (*LINEAGE, COMPACT_SKIP_I256):
        register_config(config)
