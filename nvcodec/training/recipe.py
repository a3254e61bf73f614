"""The training recipe: lambdas per qp, the hierarchical P pattern, stage settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from nvcodec.codec.gop import plan_frame
from nvcodec.models.config import INTER_QP_COUNT, INTRA_QP_COUNT
from nvcodec.models.lambdas import LAMBDA_MAX_NARROW, LAMBDA_MAX_WIDE, lambda_for_qp
from nvcodec.settings import (
    LAYER_KNEE,
    LAYER_P_KNEE,
    P_QP_OFFSET,
    P_QP_OFFSET_BLOCK_SKIP,
    CodingSettings,
    default_p_qp,
)

__all__ = ["LAMBDA_MAX_WIDE", "Recipe", "StageConfig", "i_frame_qp", "lambda_for_qp", "p_frame_qps", "sample_qps"]


def i_frame_qp(base_qp: int, offset: int) -> int:
    """qp of the I frame that starts a training sequence whose P frames are at ``base_qp``."""
    return min(base_qp + offset, INTRA_QP_COUNT - 1)


def sample_qps(stage: StageConfig, drawn: int) -> tuple[int, int]:
    """(I frame qp, P frames' base qp) of an inter sample whose qp was drawn as ``drawn``."""
    if stage.coder_qps and stage.level_qps:
        return min(drawn, LAYER_KNEE), default_p_qp(min(drawn, LAYER_P_KNEE), stage.block_skip)
    if stage.coder_qps:
        return drawn, default_p_qp(drawn, stage.block_skip)
    return i_frame_qp(drawn, stage.i_qp_offset), drawn


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
    # (see nvcodec.codec.surrogate.rate_sample)
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
    # P frames predicted through explicit motion (nvcodec.codec.motion): each reference is moved by
    # the vectors the coder's own search finds on the sample's crops before the networks see it
    motion: bool = False
    # P frames coded as the encoder codes them with block skip (nvcodec.codec.block_skip): each frame's
    # skip map chosen by the encoder's rule, its skipped blocks uncoded and copied from the reference,
    # and the coder's low-scale threshold.  Streams have used block skip since the skip model, and
    # training without it taught P frames a context the streams do not hold: stage 60 (motion) was
    # better than stage 58 in training's pass on the development clips, and coded with block skip
    # +10.8 % worse; without block skip it was 7.4 % better
    block_skip: bool = False
    # each inter sample's qps as ``-q`` gives them: the I frame's drawn from 0 to 63, the P frames'
    # base by the coder's default rule (nvcodec.settings.default_p_qp; i_qp_offset and p_qp_max unused).
    # With block skip the coder puts P frames 24 qp under the I frame up to qp 47, 30x in lambda on
    # the wide curve, where the offset stages trained 16 (10x): the P frames met coarser references
    # in training than in streams
    coder_qps: bool = False
    # with coder_qps: the qps -q gives nvc's own models since -q reaches for the picture layer
    # (nvcodec.settings: the I frame's qp stops at LAYER_KNEE, the P frames' rule at LAYER_P_KNEE), so
    # the networks train on the qps streams code them at, not on ones only --no-layer still reaches
    level_qps: bool = False
    # why a stage was left behind ("" for a live one): a run passes over a retired stage without
    # training it, and its config is not the recipe's (``Recipe.config_at``).  The recipe records what
    # ran, so a stage that did not pay is retired, never removed
    retired: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _refinement_pair(max_frames: int = 48, inter_still_share: float = 0.0,
                     lr: float = 1e-4) -> tuple[StageConfig, StageConfig]:
    """A P-frame stage on 1 I + 7 P frames and an intra stage, each from trained weights."""
    return (
        StageConfig("inter", steps=6000, batch=4, crop=96, length=8, lr=lr, qp_lr_scale=20.0, warmup_steps=300,
                    max_frames=max_frames, still_share=inter_still_share),
        StageConfig("intra", steps=6000, batch=8, crop=128, lr=lr, still_share=0.5, qp_lr_scale=20.0,
                    warmup_steps=300, max_frames=max_frames),
    )


def _large_crop_pair() -> tuple[StageConfig, StageConfig]:
    """The refinement pair on crops of twice the side at a quarter of the batch (the same pixels a step):
    on 96 x 96 crops a P frame's latent is nearly all border, where a 720p frame's is not."""
    pair = _refinement_pair(max_frames=300, inter_still_share=0.25, lr=5e-5)
    return tuple(replace(s, steps=4000, batch=s.batch // 4, crop=s.crop * 2) for s in pair)


def _larger_inter_crop() -> StageConfig:
    """The large-crop P-frame stage on 256 x 256 crops."""
    return replace(_large_crop_pair()[0], steps=3000, crop=256)


def _offset_pair() -> tuple[StageConfig, StageConfig]:
    """The 256 x 256 P-frame stage with each sample's I frame P_QP_OFFSET above its P frames, as the
    encoder codes them, and the large-crop intra stage."""
    return replace(_larger_inter_crop(), i_qp_offset=P_QP_OFFSET), _large_crop_pair()[1]


def _averaged_inter() -> StageConfig:
    """The offset pair's P-frame stage with the pixel gate at 20x, ending on its weights' moving average."""
    return replace(_offset_pair()[0], gate_lr_scale=20.0, ema_decay=0.999)


def _long_inter() -> StageConfig:
    """The averaged P-frame stage on 1 I + 15 P frames (a model trained on 7 learns nothing about the
    frames after them) at 192 x 192, its base qp within the encoder's default range (0-51)."""
    return replace(_averaged_inter(), length=16, crop=192, p_qp_max=INTRA_QP_COUNT - 1 - P_QP_OFFSET)


def _block_skip_inter() -> StageConfig:
    """The long P-frame stage at block skip's operating point: each sample's I frame
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


def _grown_wide_intra() -> StageConfig:
    """The wide intra stage on the grown intra model, twice as long: its new channels start from nothing."""
    return replace(_wide_intra(), config="compact-skip-i256", steps=12000, warmup_steps=500)


def _deep_wide_intra() -> StageConfig:
    """The wide intra stage on the deepened intra model, at half its rate and a short warm-up."""
    return replace(_wide_intra(), config="compact-skip-deep-intra", steps=8000, lr=5e-5, warmup_steps=200)


def _motion_inter() -> StageConfig:
    """The wide-range P-frame stage on references moved by explicit motion."""
    return replace(_wide_inter(), motion=True)


def _video_motion_inter() -> StageConfig:
    """The motion stage on video only (panned stills taught stage 59 to trust a moved reference too
    much), its base qp up to 63."""
    return replace(_motion_inter(), still_share=0.0, p_qp_max=INTRA_QP_COUNT - 1)


#: the P frames' base qp sits this far under the I frame in wide-range P-frame samples: 10x in lambda,
#: as 24 qp were on the narrow curve
WIDE_I_QP_OFFSET = 16


def _coded_motion_inter() -> StageConfig:
    """The video-only motion stage with block skip as the encoder applies it (see ``block_skip``)."""
    return replace(_video_motion_inter(), block_skip=True)


def _long_coded_inter() -> StageConfig:
    """The coded motion stage with the coder's qps on 1 I + 31 P frames: the loss over a sequence twice
    as long (DCVC-UF trains on ever longer unrolled sequences for the same reason: what a P frame
    passes on is judged by the frames after it).  Each step costs twice a 16-frame one, so it runs
    half as many steps."""
    return replace(_coded_motion_inter(), coder_qps=True, length=32, steps=1500)


def _wide_inter() -> StageConfig:
    """The block-skip P-frame stage on the wide lambda range."""
    return replace(_block_skip_inter(), lambda_max=LAMBDA_MAX_WIDE, i_qp_offset=WIDE_I_QP_OFFSET,
                   p_qp_max=INTRA_QP_COUNT - 1 - WIDE_I_QP_OFFSET)


def _shipped_stages() -> list[StageConfig]:
    """Stages 0-56: what the shipped nvc-compact weights went through (CHANGELOG.md and
    docs/MODEL_CARD.md say what each step gave).  Stages 45 and 53 ran beside others and are not
    in the shipped weights; a run from scratch goes through them all the same."""
    intra = StageConfig("intra", steps=12000, batch=8, crop=128, lr=2e-4, still_share=0.5, qp_lr_scale=20.0)
    p7 = StageConfig("inter", steps=6000, batch=4, crop=96, length=8, lr=1e-4, qp_lr_scale=20.0, warmup_steps=300)
    return [
        # 0-2: from scratch; from stage 2 the recon clamp and the scale floors pass gradients
        StageConfig("intra", steps=6000, batch=8, crop=128, lr=2e-4),
        StageConfig("inter", steps=10000, batch=4, crop=128, length=4, lr=2e-4),
        StageConfig("inter", steps=3000, batch=4, crop=128, length=4, lr=1e-4),
        # 3-4: the per-qp tables at 20x the rate
        intra,
        StageConfig("inter", steps=6000, batch=4, crop=128, length=4, lr=1e-4, qp_lr_scale=20.0),
        # 5: the P-frame reconstruction network grown to 128 channels
        StageConfig("inter", steps=12000, batch=4, crop=128, length=4, lr=2e-4, qp_lr_scale=20.0,
                    config="compact-recon128", warmup_steps=500),
        # 6-8: 7 P frames per sample (error propagation), the I frames again, the P frames again
        p7,
        replace(intra, warmup_steps=500),
        replace(p7, steps=12000),
        # 9-10: the feature path grown to 80 channels, beside the I frames once more
        replace(p7, steps=8000, config="compact-feature80", warmup_steps=500),
        replace(intra, steps=8000, warmup_steps=500),
        # 11-16: refinements, the P-frame encoder's view grown to 128 and the feature path to 96
        *_refinement_pair(),
        replace(p7, config="compact-view128"),
        _refinement_pair()[1],
        replace(p7, config="compact-feature96"),
        _refinement_pair()[1],
        # 17-18: every P-frame FFN narrowed from 4x to 2x its width (0.58x the CPU of a 720p P frame)
        replace(p7, config="compact-ffn2"),
        _refinement_pair()[1],
        # 19-24: whole clips rather than their first 48 frames, a quarter of the P samples from stills
        _refinement_pair(max_frames=300, inter_still_share=0.25)[0],
        _refinement_pair()[1],
        *_refinement_pair(max_frames=300, inter_still_share=0.25, lr=5e-5),
        *_refinement_pair(max_frames=300, inter_still_share=0.25, lr=5e-5),
        # 25-38: larger crops (192 and 256 P, 256 intra)
        *_large_crop_pair(), *_large_crop_pair(), *_large_crop_pair(),
        _larger_inter_crop(), _large_crop_pair()[1],
        _larger_inter_crop(), _large_crop_pair()[1],
        _larger_inter_crop(), _large_crop_pair()[1],
        _larger_inter_crop(), _large_crop_pair()[1],
        # 39-48: each P sample's I frame 12 qp above its P frames, as the encoder codes them
        *_offset_pair(), *_offset_pair(), *_offset_pair(), *_offset_pair(), *_offset_pair(),
        # 49-50: the pixel gate grown in closed (compact-skip) and trained at 20x
        replace(_offset_pair()[0], config="compact-skip", gate_lr_scale=20.0), _offset_pair()[1],
        # 51-56: stages end on their weights' average; 1 I + 15 P frames from 55
        _averaged_inter(), _offset_pair()[1],
        _averaged_inter(), _averaged_intra(),
        _long_inter(), _averaged_intra(),
    ]


@dataclass
class Recipe:
    """The recipe behind the shipped weights, then the stages that continue it.

    Stages run in order and a run resumes inside them (a checkpoint records the stage index), so the
    recipe grows by appending stages, never by editing or removing done ones.
    """

    config: str = "compact"
    seed: int = 0
    stages: list[StageConfig] = field(default_factory=lambda: [
        *_shipped_stages(),
        # 57-58: the quality range, qp 63 at lambda 16,000 instead of 3,000 (qp 63 stopped near 34 dB,
        # where x264 reaches 41-47): the I frames first, then the P frames on them
        _wide_intra(), _wide_inter(),
        # 59: the P frames read references moved by the coder's motion search (nvcodec.codec.motion),
        # which they had never seen in training.  Not kept: a quarter of its samples were stills panned
        # by whole pixels, which motion predicts perfectly, and what it learnt there cost real video
        # (development clips +6.9 % against stage 58, both coded with motion)
        _motion_inter(),
        # 60: the P frames with motion again, from video only, from stage 58's P-frame weights (the
        # shipped ones), at base qps up to 63 (the default P offset now closes above qp 47, so streams
        # code P frames up there)
        # Stopped after 1,400 steps, not kept: development clips +10.8 % against stage 58, although
        # training's own pass scored it 10 % better on crops of those very clips.  The difference was
        # block skip, which every stream uses and training left off (see StageConfig.block_skip)
        _video_motion_inter(),
        # 61: stage 60 with the P frames coded as the encoder codes them (block skip, its threshold),
        # from stage 58's P-frame weights (the shipped ones)
        _coded_motion_inter(),
        # 62: and each sample's qps as -q gives them (the I frame 24 qp above its P frames up to qp 47,
        # not 16)
        replace(_coded_motion_inter(), coder_qps=True),
        # 63-64: stage 57 moved qp 63 by only 0.4-1.3 dB, and the intra transforms held it (see
        # lineage.COMPACT_SKIP_I256): the intra model grown and trained at the wide range, then the P
        # frames with motion on it.  The grown stage ran 5,600 steps before (recorded as stages 59 and
        # 60) and had not paid (at 5,100: development stills +11.7 %, qp 63 0.4-1.5 dB lower); stage 63
        # resumes that run (its I frames grew from the same stage 57 ones) with stage 62's P frames.
        # Retired: at 6,900 steps still 10.5 % behind on the development stills (qp 63 0.2-0.9 dB
        # lower) and 7.4 % on the clips; its zero-started channels learn too slowly for this budget
        replace(_grown_wide_intra(), retired="development stills +10.5 % after 6,900 steps"),
        replace(_coded_motion_inter(), coder_qps=True, retired="followed the retired stage 63"),
        # 65: the P frames of stage 62 on 1 I + 31 P frames: trained on 15, they were never asked to
        # keep their quality past frame 16, where streams run on for hundreds.  Ran: development clips
        # -0.6 % against the shipped weights (stage 62, where it started, -1.0 %); not kept
        _long_coded_inter(),
        # 66: and on 1 I + 63 P frames, on the way to the 100+ frames DCVC-UF unrolls.  Retired: its
        # validation loss rose 2.5 % in 500 steps (0.831 -> 0.851) after the 32-frame stage had not paid
        replace(_long_coded_inter(), length=64, retired="validation +2.5 % after 500 steps"),
        # 67-68: the I frames' transforms deepened (lineage.COMPACT_SKIP_DEEP_INTRA: the synthesis caps a
        # still near 38 dB at qp 63, the analysis loses another 1.2 dB) and trained at the wide range,
        # at half the wide stage's rate (a grown model starts where the shipped one is); then the P
        # frames on them, as stage 62
        _deep_wide_intra(),
        replace(_coded_motion_inter(), coder_qps=True),
        # 69-70: stage 67's validation loss was still falling at its end (1.036 -> 1.034 over its
        # last 500 steps): the deepened I frames on, at a lower rate, then the P frames on them again
        # Retired: development stills -0.3 % and clips -0.3 % against the shipped weights, under the bar
        replace(_deep_wide_intra(), steps=6000, lr=3e-5, warmup_steps=100, retired="development stills -0.3 %"),
        replace(_coded_motion_inter(), coder_qps=True, steps=2000, retired="development clips -0.3 %"),
        # 71: the P frames on at a lower rate (stage 68's validation loss fell to its last check).
        # Retired: validation 0.527 -> 0.519, development clips -0.2 % (9 frames)
        replace(_coded_motion_inter(), coder_qps=True, steps=3000, lr=3e-5, retired="development clips -0.2 %"),
        # 72: the P frames at the qps -q now gives them: -q above 40 codes the I frame at 40 with the
        # picture layer and the P frames stop at -q 52's qp, so a quarter of stage 71's samples trained
        # qps no default stream codes
        replace(_coded_motion_inter(), coder_qps=True, level_qps=True, steps=3000, lr=3e-5),
    ])

    def config_at(self, stage_index: int) -> str:
        """The architecture config in effect during stage ``stage_index`` (the last one a live stage set
        so far; a retired stage's own config for itself)."""
        name = self.config
        for stage in self.stages[:stage_index]:
            name = name if stage.retired else stage.config or name
        if stage_index >= len(self.stages):
            return name
        return self.stages[stage_index].config or name

    def next_live(self, stage_index: int) -> int:
        """The first stage from ``stage_index`` on that is not retired (``len(stages)`` when none is)."""
        while stage_index < len(self.stages) and self.stages[stage_index].retired:
            stage_index += 1
        return stage_index

    def scale_for_cuda(self) -> Recipe:
        for s in self.stages:
            s.batch *= 4
            s.crop *= 2
        return self
