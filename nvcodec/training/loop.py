"""The training loop: stages, checkpoints every few minutes, exact resume.

A checkpoint holds the model, the optimizer, the stage and step, and every RNG
the loop draws from (torch, and the numpy generator that picks crops and qps),
so a run stopped at any moment and resumed reproduces the run that was never
stopped.  Checkpoints are written to a temporary file and renamed.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nvcodec.errors import ModelError
from nvcodec.models.bundle import CodecModel
from nvcodec.models.checkpoint import load_into, load_untrusted
from nvcodec.models.config import INTRA_QP_COUNT, get_config
from nvcodec.settings import DEFAULT_SKIP_THRESHOLD
from nvcodec.training.data import CropSampler
from nvcodec.training.forward import coder_skips, inter_forward, intra_forward, motion_compensated, yuv_mse
from nvcodec.training.grow import grow_model
from nvcodec.training.prune import is_ffn_narrowing, narrow_ffns
from nvcodec.training.recipe import Recipe, StageConfig, lambda_for_qp, p_frame_qps, sample_qps

CHECKPOINT_NAME = "checkpoint.pt"
VALIDATION_LOG = "validation.jsonl"
#: samples in the fixed validation batch of a stage, their qps spread evenly over 0-63
VALIDATION_SAMPLES = 8
VALIDATION_SEED = 20261202
#: sequences (of the stage's crop and length) that FFN narrowing fits the narrow model on
CALIBRATION_SAMPLES = 48
CALIBRATION_SEED = 20261203


def stage_checkpoint_name(stage_index: int) -> str:
    """The checkpoint kept from the end of one recipe stage."""
    return f"stage-{stage_index:02d}.pt"


@dataclass(frozen=True)
class SpeedOptions:
    """Ways to make a training step cheaper; ``bench/bench_train.py`` measures what each one buys.

    They change float rounding, not the recipe, so a run may switch them between resumes.
    """

    channels_last: bool = False
    bf16: bool = False  # bfloat16 autocast of the networks (losses and likelihoods stay float32)

    def autocast(self, device: torch.device):
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.bf16)


@dataclass
class StepReport:
    stage: str
    step: int
    loss: float
    bpp: float
    psnr: float
    qp_mean: float
    seconds: float


@dataclass
class ValidationReport:
    """The stage's loss on one fixed batch: the training loss moves by more than a stage gains, this does not."""

    stage_index: int
    stage: str
    step: int
    loss: float
    bpp: float
    psnr: float


def _psnr(mse: torch.Tensor) -> float:
    return float((10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean())


class Trainer:
    """Runs a :class:`Recipe` on samples from a sampler factory, one stage after another."""

    def __init__(self, recipe: Recipe, model: CodecModel, samplers: Callable[[StageConfig], CropSampler],
                 out_dir: str | os.PathLike[str], device: str = "cpu", speed: SpeedOptions | None = None):
        self.recipe = recipe
        self.speed = speed or SpeedOptions()
        self.device = torch.device(device)
        self.set_model(model)
        self.samplers = samplers
        self.out_dir = Path(out_dir)
        self.stage_index = 0
        self.step = 0
        # sha256 of the weights the run was initialised from (None: from scratch), kept in every
        # checkpoint so that a resume can tell a run of older weights from one of the committed ones
        self.origin: str | None = None
        self.rng = np.random.default_rng(recipe.seed)
        torch.manual_seed(recipe.seed)
        self._sampler: CropSampler | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._validation: tuple[int, torch.Tensor, torch.Tensor] | None = None
        # the moving average of the trained module's parameters (StageConfig.ema_decay), in
        # named_parameters() order; None outside a stage that keeps one, or before its first step
        self._ema: list[torch.Tensor] | None = None

    def set_model(self, model: CodecModel) -> None:
        """Train ``model`` from here on (placed and laid out as the speed options say)."""
        self.model = model.to(self.device)
        # an average of another architecture's weights (a run that resumes into a stage that grows) is
        # of no use to this one: the stage's average starts again from the grown weights
        self._ema = None
        if self.speed.channels_last:
            for net in (self.model.intra, self.model.inter):
                net.to(memory_format=torch.channels_last)
        self._optimizer = None

    def _ensure_architecture(self) -> None:
        """Grow (or narrow the FFNs of) the model when the current stage is the first of a new config."""
        wanted = self.recipe.config_at(self.stage_index)
        if self.model.config.name == wanted:
            return
        target = get_config(wanted)
        if is_ffn_narrowing(self.model.config, target):
            self.set_model(narrow_ffns(self.model, target, lambda _inter: self._calibrate()))
        else:
            self.set_model(grow_model(self.model, target))

    def _calibrate(self) -> None:
        """P-frame forward passes over fixed training sequences, at qps spread over 0-63.

        Both RNGs of the run stay where they were, so a run that narrows its model and one that
        resumes after it continue alike.
        """
        stage = self.stage
        clips = self.samplers(stage).sample(np.random.default_rng(CALIBRATION_SEED), CALIBRATION_SAMPLES)
        qps = torch.linspace(0, 63, CALIBRATION_SAMPLES).round().long()
        devices = [self.device] if self.device.type == "cuda" else []
        self.model.inter.eval()
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(CALIBRATION_SEED)
            for part, part_qps in zip(clips.split(stage.batch), qps.split(stage.batch), strict=True):
                self._inter_loss(part.to(self.device), part_qps.to(self.device))

    # -- state ----------------------------------------------------------------
    @property
    def stage(self) -> StageConfig:
        return self.recipe.stages[self.stage_index]

    @property
    def done(self) -> bool:
        return self.recipe.next_live(self.stage_index) >= len(self.recipe.stages)

    def _trained_module(self) -> torch.nn.Module:
        return self.model.intra if self.stage.stage == "intra" else self.model.inter

    def optimizer(self) -> torch.optim.Optimizer:
        if self._optimizer is None:
            self.model.intra.requires_grad_(self.stage.stage == "intra")
            self.model.inter.requires_grad_(self.stage.stage == "inter")
            self._optimizer = torch.optim.AdamW(self._param_groups(), lr=self.stage.lr, weight_decay=0.0)
        return self._optimizer

    def _param_groups(self) -> list[dict]:
        """The parameters by learning-rate multiplier: the per-qp tables (``qp_lr_scale``), the
        reference-skip gate (``gate_lr_scale``) and the rest; groups with the same rate merge."""
        def scale(name: str) -> float:
            if name.startswith("q_"):
                return self.stage.qp_lr_scale
            if name.startswith("recon_generation_net.gate."):
                return self.stage.gate_lr_scale
            return 1.0

        # the rest first, then the tables: the group order checkpoints of earlier stages were saved in
        groups: dict[float, list[torch.nn.Parameter]] = {
            s: [] for s in (1.0, self.stage.qp_lr_scale, self.stage.gate_lr_scale)}
        for name, p in self._trained_module().named_parameters():
            groups[scale(name)].append(p)
        return [{"params": params, "lr_scale": s} for s, params in groups.items() if params]

    def learning_rate(self) -> float:
        s = self.stage
        if self.step < s.warmup_steps:
            return s.lr * (self.step + 1) / s.warmup_steps
        t = min(1.0, (self.step - s.warmup_steps) / max(1, s.steps - s.warmup_steps))
        return s.lr_final + 0.5 * (s.lr - s.lr_final) * (1 + math.cos(math.pi * t))

    def state_dict(self) -> dict:
        return {
            "format": "nvc-train-1",
            "config": self.model.config.name,
            "stage_index": self.stage_index,
            "step": self.step,
            "intra": self.model.intra.state_dict(),
            "inter": self.model.inter.state_dict(),
            "optimizer": self._optimizer.state_dict() if self._optimizer is not None else None,
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": json.dumps(self.rng.bit_generator.state),
            "origin": self.origin,
            "ema": self._ema,
            "lambda_max": self.trained_lambda_max(),
        }

    def trained_lambda_max(self) -> float:
        """lambda at qp 63 of the stage the current weights come from (the one just ended at a boundary)."""
        index = self.stage_index - 1 if self.step == 0 and self.stage_index > 0 else self.stage_index
        return self.recipe.stages[min(index, len(self.recipe.stages) - 1)].lambda_max

    def save(self) -> Path:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / CHECKPOINT_NAME
        tmp = path.with_suffix(".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        return path

    def load(self, path: str | os.PathLike[str]) -> None:
        state = load_untrusted(path, "training checkpoint")
        if not isinstance(state, dict) or state.get("format") != "nvc-train-1":
            raise ModelError(f"{path} is not an nvc training checkpoint")
        if state["config"] != self.model.config.name:
            # a run that grew its model mid-recipe resumes in the config it had reached
            known = {self.recipe.config_at(i) for i in range(len(self.recipe.stages))} | {self.recipe.config}
            if state["config"] not in known:
                raise ModelError(f"checkpoint is for config {state['config']}, which this recipe never uses "
                                 f"(it trains {', '.join(sorted(known))})")
            self.set_model(new_model(str(state["config"])))
        load_into(self.model.intra, state["intra"], "intra model")
        load_into(self.model.inter, state["inter"], "inter model")
        self.stage_index = int(state["stage_index"])
        self.step = int(state["step"])
        origin = state.get("origin")  # absent from checkpoints written before it was recorded
        self.origin = origin if isinstance(origin, str) else None
        self._optimizer = None
        self._sampler = None
        self._ema = self._checked_ema(state.get("ema"))  # absent from checkpoints before averaging
        if state["optimizer"] is not None and not self.done:
            self.optimizer().load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        self.rng.bit_generator.state = json.loads(state["numpy_rng"])

    def _checked_ema(self, ema: object) -> list[torch.Tensor] | None:
        if ema is None or self.done:
            return None
        params = list(self._trained_module().parameters())
        if (not isinstance(ema, list) or len(ema) != len(params)
                or any(not isinstance(e, torch.Tensor) or e.shape != p.shape
                       for e, p in zip(ema, params, strict=True))):
            raise ModelError("the checkpoint's weight average does not match the model it trains")
        return [e.to(self.device, torch.float32) for e in ema]

    def _update_ema(self) -> None:
        """Fold this step's weights into the average; early on the average forgets faster (as if its
        horizon were the steps so far), so that it does not lean on the stage's first weights."""
        params = [p.detach().float() for p in self._trained_module().parameters()]
        if self._ema is None:
            self._ema = [p.clone() for p in params]
            return
        decay = min(self.stage.ema_decay, (1 + self.step) / (10 + self.step))
        for average, p in zip(self._ema, params, strict=True):
            average.lerp_(p, 1.0 - decay)

    def _swap_ema(self) -> None:
        """Exchange the trained module's weights with the average (twice restores them)."""
        with torch.no_grad():
            for p, e in zip(self._trained_module().parameters(), self._ema, strict=True):
                kept = p.detach().float().clone()
                p.copy_(e)
                e.copy_(kept)

    # -- training ---------------------------------------------------------------
    def _seed_stage(self) -> None:
        """Start the stage's sample and noise streams from the seed and the stage's index.

        A run that starts at a stage from exported weights (the way stages run side by side)
        would otherwise start both streams from the recipe seed alone, so that every stage of the same
        settings drew the very same crops: P-frame stages 31, 33, 35, 37 and 41 one set of 3,000
        samples, intra stages 32-42 one set of 8,000.  Two runs of one stage still draw alike, which
        keeps A/B runs fair.
        """
        self.rng = np.random.default_rng([self.recipe.seed, self.stage_index])
        torch.manual_seed(int(self.rng.integers(1 << 62)))

    def _qps(self, batch: int) -> torch.Tensor:
        """Each sample's qp: the I frame's in an intra stage, the P frames' base qp in an inter stage (the
        I frame's where the stage draws qps as the coder does, ``StageConfig.coder_qps``)."""
        top = self.stage.p_qp_max if self.stage.stage == "inter" and not self.stage.coder_qps else INTRA_QP_COUNT - 1
        return torch.from_numpy(self.rng.integers(0, top + 1, batch)).to(self.device)

    def _pass_retired(self) -> None:
        """Move past retired stages (``StageConfig.retired``): a run never trains one."""
        if self.stage_index < len(self.recipe.stages) and self.stage.retired:
            if self.step:
                raise ModelError(f"the run stands inside stage {self.stage_index}, which the recipe retired "
                                 f"({self.stage.retired}): start again from that stage's first step")
            self.stage_index = self.recipe.next_live(self.stage_index)
            self._optimizer = None
            self._sampler = None
            self._ema = None

    def train_step(self) -> StepReport:
        start = time.perf_counter()
        self._pass_retired()
        self._ensure_architecture()
        stage = self.stage
        if self.step == 0:
            self._seed_stage()
        if self._sampler is None:
            self._sampler = self.samplers(stage)
        opt = self.optimizer()
        for group in opt.param_groups:
            group["lr"] = self.learning_rate() * group.get("lr_scale", 1.0)
        clips = self._sampler.sample(self.rng, stage.batch).to(self.device)
        base = self._qps(stage.batch)
        self._trained_module().train()
        with self.speed.autocast(self.device):
            if stage.stage == "intra":
                loss, bpp, mse = self._intra_loss(clips[:, 0], base)
            else:
                loss, bpp, mse = self._inter_loss(clips, base)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self._trained_module().parameters(), stage.grad_clip)
        opt.step()
        self.step += 1
        if stage.ema_decay > 0:
            self._update_ema()
        report = StepReport(stage.stage, self.step, float(loss.detach()), float(bpp.detach()), _psnr(mse),
                            float(base.float().mean()), time.perf_counter() - start)
        if self.step >= stage.steps:
            if self._ema is not None:
                self._swap_ema()  # the stage ends on the average
                self._ema = None
            self.stage_index += 1
            self.step = 0
            self._sampler = None
            self._optimizer = None
        return report

    def validate(self) -> ValidationReport:
        """The current stage's loss on a fixed batch of its own kind of samples.

        The batch (training crops drawn once with a fixed seed, qps spread over 0-63) and the
        quantisation noise are the same at every call, so successive reports differ only by what
        the model learned.  It measures fit to training data, not generalisation; the evaluation
        set (``make bench-rd``) stays the judge of shipped weights.  Neither RNG of the run moves.
        """
        self._pass_retired()
        self._ensure_architecture()
        stage = self.stage
        if self._validation is None or self._validation[0] != self.stage_index:
            clips = self.samplers(stage).sample(np.random.default_rng(VALIDATION_SEED), VALIDATION_SAMPLES)
            qps = torch.linspace(0, 63, VALIDATION_SAMPLES).round().long()
            self._validation = (self.stage_index, clips, qps)
        _, clips, qps = self._validation
        clips, qps = clips.to(self.device), qps.to(self.device)
        module = self._trained_module()
        was_training = module.training
        module.eval()
        devices = [self.device] if self.device.type == "cuda" else []
        averaged = self._ema is not None  # a stage that ends on its average is judged by it
        if averaged:
            self._swap_ema()
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad(), self.speed.autocast(self.device):
                torch.manual_seed(VALIDATION_SEED)
                if stage.stage == "intra":
                    loss, bpp, mse = self._intra_loss(clips[:, 0], qps)
                else:
                    loss, bpp, mse = self._inter_loss(clips, qps)
        finally:
            module.train(was_training)
            if averaged:
                self._swap_ema()
        return ValidationReport(self.stage_index, stage.stage, self.step, float(loss), float(bpp), _psnr(mse))

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.speed.channels_last else x

    def _intra_loss(self, x: torch.Tensor, qp: torch.Tensor):
        out = intra_forward(self.model.intra, self._input(x), qp, self.stage.hard_rate)
        pixels = x.shape[-2] * x.shape[-1]
        mse = yuv_mse(out.x_hat, x)
        bpp = out.bits / pixels
        lam = torch.tensor([lambda_for_qp(int(q), self.stage.lambda_max) for q in qp], device=x.device)
        return (lam * mse + bpp).mean(), bpp.mean(), mse.detach()

    def _inter_loss(self, clips: torch.Tensor, drawn: torch.Tensor):
        """Loss averaged over the P frames of each sequence; gradients flow through the references.
        ``drawn``: each sample's qp as drawn (see :func:`sample_qps`)."""
        pairs = [sample_qps(self.stage, int(d)) for d in drawn.cpu()]
        i_qp = torch.tensor([i for i, _ in pairs], device=drawn.device)
        base = torch.tensor([b for _, b in pairs], device=drawn.device)
        with torch.no_grad():
            self.model.intra.eval()
            ref_frame = intra_forward(self.model.intra, self._input(clips[:, 0]), i_qp).x_hat.clamp(0, 1)
        ref_feature = None
        pixels = clips.shape[-2] * clips.shape[-1]
        qps = torch.stack([torch.tensor(p_frame_qps(int(b), clips.shape[1])) for b in base.cpu()], dim=1)
        losses, bpps, mses = [], [], []
        fields: list = [None] * clips.shape[0]
        for t in range(1, clips.shape[1]):
            qp = qps[t - 1].to(self.device)
            if self.stage.motion:
                lams = [lambda_for_qp(int(q), self.stage.lambda_max) for q in qp]
                ref_frame, ref_feature, fields = motion_compensated(clips[:, t], ref_frame, ref_feature, lams, fields)
            skips, threshold = None, None
            if self.stage.block_skip:
                threshold = DEFAULT_SKIP_THRESHOLD
                skips = coder_skips(self.model.inter, clips[:, t], qp, ref_frame, ref_feature,
                                    self.stage.lambda_max, threshold)
            out = inter_forward(self.model.inter, self._input(clips[:, t]), qp, ref_frame, ref_feature,
                                self.stage.hard_rate, skips, threshold)
            mse = yuv_mse(out.x_hat, clips[:, t])
            bpp = out.bits / pixels
            lam = torch.tensor([lambda_for_qp(int(q), self.stage.lambda_max) for q in qp], device=clips.device)
            losses.append(lam * mse + bpp)
            bpps.append(bpp)
            mses.append(mse.detach())
            ref_frame, ref_feature = out.x_hat, out.feature
        return torch.stack(losses).mean(), torch.stack(bpps).mean(), torch.stack(mses).mean(0)

    def run(self, until: Callable[[], bool], checkpoint_seconds: float = 300.0,
            log: Path | None = None, validate_every: int = 0) -> Iterator[StepReport]:
        """Train until ``until()`` is true or the recipe ends, checkpointing as it goes.

        With ``validate_every`` (and a ``log``), :meth:`validate` runs at each multiple of that
        many steps and before a stage's last step, and its reports go to ``validation.jsonl``
        beside the log.
        """
        last_save = time.monotonic()
        if log:
            log.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(log, "a", encoding="utf-8") if log else None  # noqa: SIM115
        validation_path = log.parent / VALIDATION_LOG if log else None
        try:
            while not self.done and not until():
                self._pass_retired()
                stage_index = self.stage_index
                if validation_path and validate_every and (
                        self.step % validate_every == 0 or self.step == self.stage.steps - 1):
                    with open(validation_path, "a", encoding="utf-8") as f:
                        f.write(json.dumps(self.validate().__dict__) + "\n")
                report = self.train_step()
                if log_file:
                    log_file.write(json.dumps(report.__dict__) + "\n")
                yield report
                if self.stage_index != stage_index:
                    # every stage's final weights stay exportable after later stages change them
                    shutil.copyfile(self.save(), self.out_dir / stage_checkpoint_name(stage_index))
                    last_save = time.monotonic()
                elif time.monotonic() - last_save >= checkpoint_seconds:
                    self.save()
                    if log_file:
                        log_file.flush()
                    last_save = time.monotonic()
        finally:
            self.save()
            if log_file:
                log_file.close()


def new_model(config: str, seed: int = 0) -> CodecModel:
    """A freshly initialised model to train from scratch.

    The per-qp scalings start as a log ramp (x0.5 at qp 0 to x2 at qp 63 before
    quantisation, the inverse after), so qps differ in rate from the first step
    and training only has to refine them.
    """
    from nvcodec.models.inter import InterModel
    from nvcodec.models.intra import IntraModel

    cfg = get_config(config)
    torch.manual_seed(seed)
    intra, inter = IntraModel(cfg.intra), InterModel(cfg.inter)
    with torch.no_grad():
        for table, sign in ((intra.q_scale_enc, 1), (intra.q_scale_dec, -1), (inter.q_encoder, 1),
                            (inter.q_decoder, -1)):
            rows = torch.arange(table.shape[0], dtype=torch.float32) / 63.0
            table.copy_(torch.exp(sign * (rows * 2 - 1) * math.log(2.0))[:, None, None, None].expand_as(table))
    return CodecModel(f"{cfg.name}-training", cfg, intra, inter, sha256="")
