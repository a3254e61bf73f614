"""The training recipe: lambdas per qp, the hierarchical P pattern, stage settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from nvcodec.codec.gop import plan_frame
from nvcodec.codec.settings import P_QP_OFFSET, P_QP_OFFSET_BLOCK_SKIP, CodingSettings
from nvcodec.models.config import INTER_QP_COUNT, INTRA_QP_COUNT
from nvcodec.models.lambdas import LAMBDA_MAX_NARROW, LAMBDA_MAX_WIDE, lambda_for_qp

__all__ = ["LAMBDA_MAX_WIDE", "Recipe", "StageConfig", "i_frame_qp", "lambda_for_qp", "p_frame_qps"]


def i_frame_qp(base_qp: int, offset: int) -> int:
    """qp of the I frame that starts a training sequence whose P frames are at ``base_qp``."""
    return min(base_qp + offset, INTRA_QP_COUNT - 1)


def p_frame_qps(base_qp: int, length: int) -> list[int]:
    """Coded qp of frames 1..length-1 of a sequence starting with an I frame (hierarchical shifts)."""
    settings = CodingSettings(qp_i=0, qp_p=base_qp, intra_period=-1, reset_interval=0)
    return [min(plan_frame(i, settings).qp, INTER_QP_COUNT - 1) for i in range(1, length)]


@dataclass
class StageConfig:
    """One training stage; defaults are the CPU recipe, ``scale_for_cuda`` the GPU one."""

    stage: str  # "intra" or "inter"
    steps: int
    batch: int
    crop: int
    length: int = 1  # frames per sample (inter: 1 I + length-1 P)
    lr: float = 1e-4
    lr_final: float = 1e-5
    grad_clip: float = 1.0
    still_share: float = 0.0  # fraction of samples drawn from still images (see CropSampler)
    # learning-rate multiplier of the per-qp scaling tables (q_*): each row only learns from the
    # samples drawn at its qp, so at the networks' rate the tables barely leave their initial ramp
    qp_lr_scale: float = 1.0
    # learning-rate multiplier of the reference-skip gate (InterConfig.reference_skip): it starts
    # closed, and at the networks' rate Adam would need ~10,000 steps to move its bias to 1 (a copy)
    gate_lr_scale: float = 1.0
    # linear learning-rate ramp over the first steps: a fresh Adam optimizer at the full rate moves
    # every weight by about lr per step while its moment estimates settle, which set the trained
    # P-frame model back by 2 dB at the start of stages 4 and 5 before it recovered
    warmup_steps: int = 0
    # architecture from this stage on (None: unchanged); the trained model is grown into it
    # without changing its outputs (nvcodec.training.grow), so no training is lost
    config: str | None = None
    # frames read from the start of each training video: stages 0-18 saw only the first 48 (about
    # 2 s of 19 clips), so the P frames met little more motion than those few seconds hold
    max_frames: int = 48
    # the rate of the rounded symbols the coder sends (straight-through) instead of the noisy proxy
    # (see training.forward._rate_sample)
    hard_rate: bool = False
    # how many qp above the P frames' base qp an inter sample's I frame is coded (capped at 63).  The
    # encoder puts its P frames settings.P_QP_OFFSET under the I frame, so stages trained since then
    # show the P model the finer reference it meets in a stream (stages up to 38: the same qp)
    i_qp_offset: int = 0
    # the stage ends on an exponential moving average of its weights (this decay per step; 0: on the
    # last step's weights).  At batch 1 and lr 5e-5 a P-frame stage from trained weights ended where it
    # began (validation 0.3495 -> 0.3491 plain, 0.3535 with the gate at 20x; clips +0.8 / +0.7 %): each
    # step's noise is as large as what the stage learns, and an average keeps the second, not the first
    ema_decay: float = 0.0
    # the highest base qp an inter sample's P frames are drawn at (uniformly from 0).  The encoder puts
    # its P frames P_QP_OFFSET under the I frame, so by default they never start above 63 - 12 = 51;
    # samples drawn above that train P frames no default stream holds, at the largest lambdas, whose
    # losses outweigh those of the range the streams use
    p_qp_max: int = INTRA_QP_COUNT - 1
    # lambda at qp 63 (nvcodec.models.lambdas): the shipped weights up to stage 56 trained at 3,000,
    # whose qp 63 stops near 34 dB; the wide range reaches about 40 dB
    lambda_max: float = LAMBDA_MAX_NARROW

    def to_dict(self) -> dict:
        return asdict(self)


def _refinement_pair(max_frames: int = 48, inter_still_share: float = 0.0,
                     lr: float = 1e-4) -> tuple[StageConfig, StageConfig]:
    return (
        StageConfig("inter", steps=6000, batch=4, crop=96, length=8, lr=lr, qp_lr_scale=20.0, warmup_steps=300,
                    max_frames=max_frames, still_share=inter_still_share),
        StageConfig("intra", steps=6000, batch=8, crop=128, lr=lr, still_share=0.5, qp_lr_scale=20.0,
                    warmup_steps=300, max_frames=max_frames),
    )


def _large_crop_pair() -> tuple[StageConfig, StageConfig]:
    """The late refinement pair on crops of twice the side at a quarter of the batch (the same pixels a step)."""
    pair = _refinement_pair(max_frames=300, inter_still_share=0.25, lr=5e-5)
    return tuple(replace(s, steps=4000, batch=s.batch // 4, crop=s.crop * 2) for s in pair)


def _larger_inter_crop() -> StageConfig:
    """The large-crop inter stage on 256 x 256 crops (batch 1 already, so more pixels a step: 1.8x the time)."""
    return replace(_large_crop_pair()[0], steps=3000, crop=256)


def _offset_pair() -> tuple[StageConfig, StageConfig]:
    """The 256 x 256 P-frame stage with each sample's I frame P_QP_OFFSET above its P frames, and the
    large-crop intra stage: the pair every stage from 39 on repeats."""
    return replace(_larger_inter_crop(), i_qp_offset=P_QP_OFFSET), _large_crop_pair()[1]


def _averaged_inter() -> StageConfig:
    """The offset pair's P-frame stage with the skip gate at 20x, ending on its weights' moving average."""
    return replace(_offset_pair()[0], gate_lr_scale=20.0, ema_decay=0.999)


def _long_inter() -> StageConfig:
    """The averaged P-frame stage on 1 I + 15 P frames, on crops of three quarters the side (1.3x the
    time a step): a model trained on 7 P frames learns nothing about the frames after them.  Its P
    frames' base qp stays within the encoder's default range (0-51; ``StageConfig.p_qp_max``)."""
    return replace(_averaged_inter(), length=16, crop=192, p_qp_max=INTRA_QP_COUNT - 1 - P_QP_OFFSET)


def _block_skip_inter() -> StageConfig:
    """The long P-frame stage at the encoder's operating point with block skip: each sample's I frame
    P_QP_OFFSET_BLOCK_SKIP above its P frames, whose base qp is drawn from 0 to 63 minus that."""
    return replace(_long_inter(), i_qp_offset=P_QP_OFFSET_BLOCK_SKIP,
                   p_qp_max=INTRA_QP_COUNT - 1 - P_QP_OFFSET_BLOCK_SKIP)


def _averaged_intra() -> StageConfig:
    """The offset pair's intra stage ending on its weights' moving average."""
    return replace(_offset_pair()[1], ema_decay=0.999)


def _wide_intra() -> StageConfig:
    """The averaged intra stage on the wide lambda range (qp 63 at 16,000), at twice its rate: the
    per-qp tables and the synthesis must move far for qp 63 to reach about 40 dB."""
    return replace(_averaged_intra(), lambda_max=LAMBDA_MAX_WIDE, steps=6000, lr=1e-4)


#: the P frames' base qp sits this far under the I frame in wide-range P-frame samples: 10x in lambda,
#: as 24 qp were on the narrow curve
WIDE_I_QP_OFFSET = 16


def _wide_inter() -> StageConfig:
    """The block-skip P-frame stage on the wide lambda range."""
    return replace(_block_skip_inter(), lambda_max=LAMBDA_MAX_WIDE, i_qp_offset=WIDE_I_QP_OFFSET,
                   p_qp_max=INTRA_QP_COUNT - 1 - WIDE_I_QP_OFFSET)


@dataclass
class Recipe:
    config: str = "compact"
    seed: int = 0
    # Stages run in order and a run resumes inside them, so the recipe grows by
    # appending stages (e.g. longer sequences, larger crops), never by editing done ones.
    stages: list[StageConfig] = field(default_factory=lambda: [
        StageConfig("intra", steps=6000, batch=8, crop=128, lr=2e-4),
        StageConfig("inter", steps=10000, batch=4, crop=128, length=4, lr=2e-4),
        # from here on the recon clamp and the scale/step floors pass gradients (see training.forward):
        # the first stage revives the P-frame outputs stuck outside [0, 1] under the old hard clamp
        StageConfig("inter", steps=3000, batch=4, crop=128, length=4, lr=1e-4),
        StageConfig("intra", steps=12000, batch=8, crop=128, lr=2e-4, still_share=0.5, qp_lr_scale=20.0),
        StageConfig("inter", steps=6000, batch=4, crop=128, length=4, lr=1e-4, qp_lr_scale=20.0),
        # a 128-wide recon network: at 64 every decoded P block lies in one fixed 64-dim subspace
        StageConfig("inter", steps=12000, batch=4, crop=128, length=4, lr=2e-4, qp_lr_scale=20.0,
                    config="compact-recon128", warmup_steps=500),
        # 7 P frames per sample: with 3 the model never sees the error that builds up over a long
        # run of P frames (the usual remedy for error propagation in learned video codecs)
        StageConfig("inter", steps=6000, batch=4, crop=96, length=8, lr=1e-4, qp_lr_scale=20.0,
                    warmup_steps=300),
        # back to the intra model (last trained in stage 3), still short of JPEG on Kodak
        StageConfig("intra", steps=12000, batch=8, crop=128, lr=2e-4, still_share=0.5, qp_lr_scale=20.0,
                    warmup_steps=500),
        # the P-frame model again, on the retrained I frames; it was still improving when stage 6 ended
        # (training PSNR 32.6 -> 33.6 dB at 0.178 -> 0.169 bpp over that stage)
        StageConfig("inter", steps=12000, batch=4, crop=96, length=8, lr=1e-4, qp_lr_scale=20.0,
                    warmup_steps=300),
        # an 80-wide feature path: after 4-5k steps stage 8 had not moved the evaluation (P frames stay
        # about 3 dB under the I frame they follow, capped by the 64-wide feature the P frame sees its
        # reference through and is decoded from), so the committed weights go on from stage 7 to here.
        # At lr 2e-4 the training PSNR fell 1.5 dB after the warm-up and had won back only 0.5 dB by
        # step 2,000; 8,000 steps fit one session (about 1.6 h), whose end evaluates them
        StageConfig("inter", steps=8000, batch=4, crop=96, length=8, lr=1e-4, qp_lr_scale=20.0,
                    config="compact-feature80", warmup_steps=500),
        # the I frames again, as stage 7, run beside stage 9 on the other core (an intra stage never
        # reads the inter model; `nvc train --export --intra-from` merges the two runs)
        StageConfig("intra", steps=8000, batch=8, crop=128, lr=2e-4, still_share=0.5, qp_lr_scale=20.0,
                    warmup_steps=500),
        # then pairs of refinements, one inter and one intra, each pair run side by side the same way
        # (stages 11 + 12 gave clips -10.1 %, Kodak -4.8 %); fresh objects, as scale_for_cuda edits them
        *_refinement_pair(),
        # the P-frame encoder's view widened to 128 (compact-view128): with a perfect reference and no
        # quantisation a P frame still stayed 1.9-3.6 dB under the I frame (bench/probe_ceilings.py,
        # p_copy), and the encoder's 80-value projection kept only 24-29 dB of the frame
        StageConfig("inter", steps=6000, batch=4, crop=96, length=8, lr=1e-4, qp_lr_scale=20.0,
                    config="compact-view128", warmup_steps=300),
        _refinement_pair()[1],
        # a 96-wide feature path (compact-feature96): 96 samples make one 8x8 block of 4:2:0 video, and
        # at 80 the perfect-reference probe (p_copy) still stayed 2-6 dB under the I frame after stage 13
        StageConfig("inter", steps=6000, batch=4, crop=96, length=8, lr=1e-4, qp_lr_scale=20.0,
                    config="compact-feature96", warmup_steps=300),
        _refinement_pair()[1],
        # stages 15 + 16 gave clips -7.1 %, Kodak -3.3 %, but 720p P frames fell to about 3 fps: every
        # P-frame FFN narrowed from 4x to 2x its block's width (compact-ffn2, 0.58x the CPU time of a
        # 720p P frame), fitted by least squares on the wide model's activations
        # (nvcodec.training.prune: it starts 0.2 dB under the wide model instead of 9 dB), then trained;
        # the intra model goes on beside it
        StageConfig("inter", steps=6000, batch=4, crop=96, length=8, lr=1e-4, qp_lr_scale=20.0,
                    config="compact-ffn2", warmup_steps=300),
        _refinement_pair()[1],
        # stages 17 + 18 gave clips -7.6 %, Kodak -2.5 % at 0.58x the P-frame CPU: another pair of
        # refinements. The reference skip (compact-skip) was tried first and left out: trained alone
        # for 300 steps on the stage-17 model the gate made the validation loss worse (0.598 -> 0.603),
        # and with everything else for 400 steps no better than without it (docs/MODEL_CARD.md).
        # The P frames read up to 300 frames of every video (whole clips, mostly: 1.8 GB in memory
        # instead of 0.3) rather than the first 48, and a quarter of their samples are made from
        # stills, held or panned: coding foreman's first frame eight times, the first P frame cost 81 %
        # of the I frame's bits and the next ones 15-33 % for 0.1 dB each (the clips hold little that
        # is still, so the model never learned that a still scene costs next to nothing)
        _refinement_pair(max_frames=300, inter_still_share=0.25)[0],
        _refinement_pair()[1],
        # and one more pair, side by side as before, at half the peak rate: in stages 19 and 20 the
        # validation loss jumped after the warm-up (inter 0.333 -> 0.450, intra 0.478 -> 0.505) and
        # took 3,000 steps and more to come back, so a refinement spent half its steps undoing its start
        *_refinement_pair(max_frames=300, inter_still_share=0.25, lr=5e-5),
        # stages 21 + 22 gave clips -4.3 %, Kodak -1.2 %: one more pair the same way
        *_refinement_pair(max_frames=300, inter_still_share=0.25, lr=5e-5),
        # then the same pixels per step on crops of four times the area (a quarter of the batch): on a
        # 96 x 96 crop the P frame's latent is a 6 x 6 grid and its hyperprior 2 x 2, nearly all border,
        # where a 720p frame has 80 x 45 and 20 x 12, and a 1/8-resolution block meets the crop's edge
        # within two of its 3 x 3 depthwise steps; the I frames likewise (128 -> 256). 4,000 steps
        # each, so that a pair and its evaluation fit one session
        *_large_crop_pair(),
        # stages 25 + 26 gave clips -7.8 %, Kodak -1.5 %, P/I 0.79 -> 0.74 (the inter stage alone: clips
        # -7.7 %), more than twice what a pair on 96 x 96 crops had given: the same pair again
        *_large_crop_pair(),
        # stages 27 + 28 gave clips -2.0 %, Kodak -1.0 %, P/I 0.74 -> 0.73: once more
        *_large_crop_pair(),
        # crop size moved P/I where six refinements on 96 x 96 crops had not (0.79 -> 0.74 at 192 x 192):
        # the P frames on 256 x 256 (a 16 x 16 latent, 4 x 4 hyperprior), then the intra stage as before
        _larger_inter_crop(),
        _large_crop_pair()[1],
        # stage 31 gave clips -2.0 % (Cisco -1.6 %, REDS -2.4 %), P/I 0.731 -> 0.725; the same stage with a
        # second P-decoder block grown in (compact-dec2) gave -2.1 % from the same samples, not worth its
        # CPU: the pair once more
        _larger_inter_crop(),
        _large_crop_pair()[1],
        # stage 33 gave clips -1.2 %, P/I 0.727 -> 0.721 (stage 34, run once at the end of that session, gave
        # Kodak -0.8 %, clips +0.1 %: not shipped): the pair once more, the returns halving each time
        _larger_inter_crop(),
        _large_crop_pair()[1],
        # stage 35 alone gave clips -0.9 % (under the 1 % bar); with stage 36 beside it and stage 37 (the
        # same P-frame stage again) clips -2.1 %, Kodak -0.5 %, P/I 0.721 -> 0.716.  Beside stage 37, from
        # the same weights and samples, a decoder that can hand the previous feature on (compact-fskip,
        # gate at 20x) gave -2.0 %: its gate hardly opened, so a copy is not what the training data
        # rewards.  The pixel-domain skip (compact-skip, beside stage 35) gave -2.4 %, P/I 0.707, but costs
        # the encoder the reconstruction on every frame (720p encode 5.05 -> 3.59 fps).  Plain, then:
        _larger_inter_crop(),
        _large_crop_pair()[1],
        # from stage 39 the I frame of every P-frame sample is coded P_QP_OFFSET above its P frames, as
        # the encoder has done since 2026-12-05 (whole-sequence BD-rate -1.5 % on training clips alone)
        *_offset_pair(),
        # the pair once more, twice (stages 41 + 42 drew the crops of 37 + 38 again, and gave clips -0.9 %;
        # stage 43, with crops of its own, -1.7 % on top of them with the stage 42 I frames)
        *_offset_pair(),
        *_offset_pair(),
        # and twice more, each stage with crops of its own
        *_offset_pair(),
        *_offset_pair(),
        # stage 45 (from the stage 43 + 42 weights) gave clips -0.1 % with the stage 44 I frames; the I
        # frames of 44 + 46 gave Kodak -1.3 % (docs/MODEL_CARD.md, anchor skip): twice more, as before.
        # Stage 49 plain gave clips -0.6 % and stage 50 Kodak +0.5 %; stage 49 with the reference skip
        # grown in (compact-skip, gate 20x; free for the encoder since resets rebuild their pixels without
        # the gate) gave clips -2.2 %, P/I 0.605 -> 0.593, and was shipped with the stage 48 I frames
        replace(_offset_pair()[0], config="compact-skip", gate_lr_scale=20.0), _offset_pair()[1],
        # stage 51 plain (the gate back at 1x) gave clips +0.8 %, with the gate at 20x +0.7 %: at batch 1
        # the stage ends where it began.  Ending on the moving average of its weights (decay 0.999) gave
        # clips -1.0 % (Cisco -0.4 %, REDS -1.6 %), P/I 0.593 -> 0.585, validation 0.3495 -> 0.3426
        # (0.3535 without it), and was shipped: every P-frame stage from here on does so
        _averaged_inter(), _offset_pair()[1],
        # and twice more, so that make train has work after stage 52 (whose I frames, plain, gave Kodak
        # +0.2 % in float32 and +0.16 % in bf16: the intra stages end on their average from 54 on too)
        _averaged_inter(), _averaged_intra(),
        # stage 53 gave Cisco -2.9 % but REDS +15.8 %: better over the first 8 frames of a clip (the
        # length it trains on), worse after them (foreman and bikes at qp 63: 0.3-0.5 dB under the
        # shipped weights from frame 8 on), so the P frames now train on sequences twice as long
        _long_inter(), _averaged_intra(),
        # stage 55 from the stage 51 weights (not 53) with the stage 54 I frames gave clips -1.1 % (Cisco
        # +1.4 %, REDS -3.6 %) against the stage 51 P frames, but its curves moved up to where nvc is
        # weakest against x264 (video BD-rate vs x264 +116.4 -> +123.9 %) and P/I rose 0.585 -> 0.603: not
        # shipped (the stage 54 I frames were, with the stage 51 P frames).  Run again with the P frames'
        # base qp drawn from 0-51 only (the encoder's default range, p_qp_max): development clips -5.4 %
        # against the stage 51 P frames, -0.6 % against drawing 0-63; shipped, and every _long_inter
        # stage draws so.  Stage 56 (the averaged intra stage again) ended at validation 0.4668, where
        # stage 54 had, and was not kept.  Since the ninth session the encoder codes nvc's models with
        # block skip and P frames 24 qp under the I frame, so the P-frame stages from 57 on train at
        # that operating point:
        # from stage 57 the quality range: lambda at qp 63 from 3,000 to 16,000 (qp 63 stopped near 34 dB,
        # where x264 reaches 41-47), I frames first, then the P frames on them
        _wide_intra(), _wide_inter(),
        _wide_intra(), _wide_inter(),
    ])

    def config_at(self, stage_index: int) -> str:
        """The architecture config in effect during stage ``stage_index`` (the last one set so far)."""
        name = self.config
        for stage in self.stages[: stage_index + 1]:
            name = stage.config or name
        return name

    def scale_for_cuda(self) -> Recipe:
        for s in self.stages:
            s.batch *= 4
            s.crop *= 2
        return self
