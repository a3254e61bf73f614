"""Training: a step lowers the loss on a fixed batch, and resume reproduces the same run."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from nvcodec.errors import InputError, ModelError
from nvcodec.settings import P_QP_OFFSET
from nvcodec.training import loop
from nvcodec.training.data import Clip, CropSampler, StageSamplers
from nvcodec.training.loop import Trainer, new_model
from nvcodec.training.recipe import Recipe, StageConfig, i_frame_qp, lambda_for_qp, p_frame_qps, sample_qps


def synthetic_clips() -> list[Clip]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    frames = [(128 + 80 * np.sin((xx + 2 * t) / 6.0) * np.cos(yy / 9.0)).astype(np.uint8) for t in range(5)]
    y = np.stack(frames)
    uv = rng.integers(100, 156, (5, 2, 24, 32), dtype=np.uint8)
    return [Clip("waves", y, uv)]


def make_trainer(tmp_path, stage="intra", steps=50, hard_rate=False):
    recipe = Recipe(config="tiny", seed=3, stages=[StageConfig(stage, steps=steps, batch=2, crop=32,
                                                               length=1 if stage == "intra" else 3, lr=1e-3,
                                                               hard_rate=hard_rate)])
    clips = synthetic_clips()
    return Trainer(recipe, new_model("tiny", seed=1), lambda s: CropSampler(clips, s.crop, s.length), tmp_path)


def test_lambda_grows_with_qp_and_p_qps_follow_the_hierarchy():
    assert lambda_for_qp(0) < lambda_for_qp(32) < lambda_for_qp(63) < lambda_for_qp(71)
    assert p_frame_qps(20, 5) == [28, 20, 24, 20]


@pytest.mark.parametrize("offset", [0, 12])
def test_an_inter_sample_codes_its_i_frame_the_stage_offset_above_its_p_frames(tmp_path, monkeypatch, offset):
    trainer = make_trainer(tmp_path, "inter")
    trainer.recipe.stages[0] = replace(trainer.stage, i_qp_offset=offset)
    seen, original = [], loop.intra_forward

    def recording(model, x, qp, hard_rate=False):
        seen.append(qp.tolist())
        return original(model, x, qp, hard_rate)

    monkeypatch.setattr(loop, "intra_forward", recording)
    clips = trainer.samplers(trainer.stage).sample(np.random.default_rng(5), 2)
    trainer._inter_loss(clips, torch.tensor([20, 55]))
    assert seen == [[20 + offset, min(55 + offset, 63)]]
    assert i_frame_qp(0, P_QP_OFFSET) == P_QP_OFFSET and i_frame_qp(63, P_QP_OFFSET) == 63


def test_inter_samples_draw_their_p_qps_up_to_the_stage_top_and_intra_samples_over_all(tmp_path):
    trainer = make_trainer(tmp_path, "inter")
    trainer.recipe.stages[0] = replace(trainer.stage, p_qp_max=51)
    drawn = torch.cat([trainer._qps(64) for _ in range(20)])
    assert int(drawn.max()) == 51 and int(drawn.min()) == 0
    intra = make_trainer(tmp_path / "intra", "intra")
    intra.recipe.stages[0] = replace(intra.stage, p_qp_max=51)
    assert int(torch.cat([intra._qps(64) for _ in range(20)]).max()) == 63


@pytest.mark.parametrize("stage,hard_rate", [("intra", False), ("inter", False), ("intra", True), ("inter", True)])
def test_training_steps_decrease_the_loss_on_a_fixed_batch(tmp_path, stage, hard_rate):
    trainer = make_trainer(tmp_path, stage, hard_rate=hard_rate)
    clips = trainer.samplers(trainer.stage).sample(np.random.default_rng(5), 2)
    qp = torch.tensor([20, 50])
    torch.manual_seed(0)

    def loss() -> float:
        torch.manual_seed(0)  # same quantisation noise every time
        if stage == "intra":
            return float(trainer._intra_loss(clips[:, 0], qp)[0].detach())
        return float(trainer._inter_loss(clips, qp)[0].detach())

    before = loss()
    opt = trainer.optimizer()
    for _ in range(15):
        torch.manual_seed(0)
        value = trainer._intra_loss(clips[:, 0], qp)[0] if stage == "intra" else trainer._inter_loss(clips, qp)[0]
        opt.zero_grad()
        value.backward()
        opt.step()
    assert loss() < 0.8 * before


def resumed_run(make, tmp_path, before: int, after: int) -> Trainer:
    """A run stopped after ``before`` steps and resumed by a new trainer for ``after`` more.  The
    checkpoint is written before the second trainer exists: building one reseeds torch's global
    generator, whose state a checkpoint records."""
    first = make(tmp_path / "b")
    for _ in range(before):
        first.train_step()
    path = first.save()
    resumed = make(tmp_path / "c")
    resumed.load(path)
    for _ in range(after):
        resumed.train_step()
    return resumed


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    straight = make_trainer(tmp_path / "a")
    for _ in range(6):
        straight.train_step()

    resumed = resumed_run(make_trainer, tmp_path, 3, 3)

    assert resumed.step == straight.step == 6
    for a, b in zip(straight.model.intra.state_dict().values(), resumed.model.intra.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def averaging_trainer(path, steps=6):
    trainer = make_trainer(path, steps=steps)
    trainer.recipe.stages[0] = replace(trainer.stage, ema_decay=0.9)
    return trainer


def test_a_stage_with_weight_averaging_ends_on_the_average_and_resumes_to_it(tmp_path):
    # the average does not steer training, so a twin run without it passes through the same weights
    plain, weights = make_trainer(tmp_path / "plain", steps=6), []
    for _ in range(6):
        plain.train_step()
        weights.append([p.detach().clone() for p in plain.model.intra.parameters()])
    expected = weights[0]
    for step, current in enumerate(weights[1:], start=2):
        decay = min(0.9, (1 + step) / (10 + step))  # early steps forget faster
        expected = [decay * a + (1 - decay) * w for a, w in zip(expected, current, strict=True)]

    averaged = averaging_trainer(tmp_path / "a")
    for _ in range(6):
        averaged.train_step()
    assert averaged.done
    final = [p.detach() for p in averaged.model.intra.parameters()]
    for f, e in zip(final, expected, strict=True):
        torch.testing.assert_close(f, e, rtol=1e-5, atol=1e-6)
    assert any(not torch.allclose(f, last) for f, last in zip(final, weights[-1], strict=True))

    resumed = resumed_run(averaging_trainer, tmp_path, 3, 3)
    for a, b in zip(final, resumed.model.intra.parameters(), strict=True):
        assert torch.equal(a, b.detach())


def test_each_stage_draws_its_own_samples_and_a_rerun_of_a_stage_the_same(tmp_path):
    stage = StageConfig("intra", steps=5, batch=2, crop=32, lr=1e-3)
    clips = synthetic_clips()
    seen = {}
    for run, start in (("a", 0), ("b", 1), ("c", 1)):
        trainer = Trainer(Recipe(config="tiny", seed=3, stages=[stage, stage]), new_model("tiny", seed=1),
                          lambda s: CropSampler(clips, s.crop, s.length), tmp_path / run)
        trainer.stage_index = start  # as a run initialised at that stage from exported weights
        seen[run] = trainer.train_step().loss  # the same weights: only the crops and the noise differ
    assert seen["b"] == seen["c"] != seen["a"]


def test_per_qp_tables_learn_at_their_own_rate(tmp_path):
    recipe = Recipe(config="tiny", seed=3, stages=[StageConfig("intra", steps=10, batch=2, crop=32, lr=1e-3,
                                                               qp_lr_scale=20.0)])
    clips = synthetic_clips()
    trainer = Trainer(recipe, new_model("tiny", seed=1), lambda s: CropSampler(clips, s.crop, s.length), tmp_path)
    trainer.train_step()
    rest, tables = trainer.optimizer().param_groups
    intra = trainer.model.intra
    assert {id(p) for p in tables["params"]} == {id(intra.q_scale_enc), id(intra.q_scale_dec)}
    assert tables["lr"] == pytest.approx(20 * rest["lr"])


def test_still_share_sets_how_often_stills_are_drawn():
    rng = np.random.default_rng(0)
    video = synthetic_clips()[0]
    still = Clip("still", video.y[:1].copy(), video.uv[:1].copy())
    sampler = CropSampler([video, still], 32, 1, still_share=0.5)
    assert sampler.weights == pytest.approx([0.5, 0.5])
    assert CropSampler([video, still], 32, 1).weights[1] == pytest.approx(1 / 6)
    assert sampler.sample(rng, 3).shape == (3, 1, 3, 32, 32)


def test_each_stage_end_keeps_a_checkpoint(tmp_path):
    stages = [StageConfig("intra", steps=2, batch=2, crop=32, lr=1e-3),
              StageConfig("inter", steps=1, batch=1, crop=32, length=2, lr=1e-3)]
    clips = synthetic_clips()
    trainer = Trainer(Recipe(config="tiny", seed=3, stages=stages), new_model("tiny", seed=1),
                      lambda s: CropSampler(clips, s.crop, s.length), tmp_path)
    assert [r.stage for r in trainer.run(lambda: False)] == ["intra", "intra", "inter"]
    first = torch.load(tmp_path / "stage-00.pt", weights_only=True)
    assert (first["stage_index"], first["step"]) == (1, 0)
    assert torch.equal(first["intra"]["q_scale_enc"], trainer.model.intra.q_scale_enc.detach())
    assert (tmp_path / "stage-01.pt").is_file()


def test_a_run_passes_over_retired_stages_and_their_configs(tmp_path):
    stages = [StageConfig("intra", steps=1, batch=2, crop=32, lr=1e-3),
              StageConfig("intra", steps=5, batch=2, crop=32, config="no-such-config", retired="did not pay"),
              StageConfig("inter", steps=1, batch=1, crop=32, length=2, lr=1e-3)]
    clips = synthetic_clips()
    recipe = Recipe(config="tiny", seed=3, stages=stages)
    assert recipe.config_at(2) == "tiny" and recipe.next_live(1) == 2 and recipe.next_live(2) == 2
    trainer = Trainer(recipe, new_model("tiny", seed=1), lambda s: CropSampler(clips, s.crop, s.length), tmp_path)
    assert [(r.stage, r.step) for r in trainer.run(lambda: False)] == [("intra", 1), ("inter", 1)]
    assert trainer.done and trainer.model.config.name == "tiny"
    # a run that stands inside a stage retired since is told so, not trained on
    trainer.stage_index, trainer.step = 1, 3
    with pytest.raises(ModelError, match="retired"):
        trainer.train_step()
    # and a recipe that ends in retired stages is done at the first of them
    ended = Trainer(Recipe(config="tiny", seed=3, stages=stages[:2]), new_model("tiny", seed=1),
                    lambda s: CropSampler(clips, s.crop, s.length), tmp_path)
    ended.stage_index = 1
    assert ended.done


def test_learning_rate_ramps_up_over_the_warmup_then_follows_the_cosine(tmp_path):
    stage = StageConfig("intra", steps=10, batch=2, crop=32, lr=1e-3, lr_final=1e-5, warmup_steps=4)
    clips = synthetic_clips()
    trainer = Trainer(Recipe(config="tiny", seed=3, stages=[stage]), new_model("tiny", seed=1),
                      lambda s: CropSampler(clips, s.crop, s.length), tmp_path)
    rates = []
    for step in range(10):
        trainer.step = step
        rates.append(trainer.learning_rate())
    assert rates[:4] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert rates[4] == pytest.approx(1e-3)
    assert all(a > b for a, b in zip(rates[4:-1], rates[5:], strict=True))
    assert rates[-1] > 1e-5


@pytest.mark.parametrize("stage", ["intra", "inter"])
def test_validation_is_repeatable_and_leaves_the_run_unchanged(tmp_path, stage):
    plain = make_trainer(tmp_path / "plain", stage, steps=4)
    list(plain.run(lambda: False, log=tmp_path / "plain" / "log.jsonl"))
    checked = make_trainer(tmp_path / "checked", stage, steps=4)
    first = checked.validate()
    assert checked.validate() == first  # same batch, same noise
    list(checked.run(lambda: False, log=tmp_path / "checked" / "log.jsonl", validate_every=2))

    for net in ("intra", "inter"):
        ours, theirs = getattr(plain.model, net).state_dict(), getattr(checked.model, net).state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)  # validating drew from no RNG, changed no weight
    rows = [json.loads(line) for line in (tmp_path / "checked" / "validation.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2, 3] and {r["stage"] for r in rows} == {stage}
    assert rows[0]["loss"] == pytest.approx(first.loss)
    assert rows[-1]["loss"] != rows[0]["loss"]  # it sees what training changed
    assert not (tmp_path / "plain" / "validation.jsonl").exists()


def test_the_gate_and_the_tables_learn_at_their_own_rates_after_the_rest(tmp_path):
    """Parameter groups keep the order earlier checkpoints were saved in (the rest, then the tables)."""
    import dataclasses

    from nvcodec.models.config import TINY, ModelConfig, register_config

    skip = ModelConfig("tiny-skip-lr", TINY.intra, dataclasses.replace(TINY.inter, reference_skip=True))
    register_config(skip)
    recipe = Recipe(config=skip.name, seed=3, stages=[StageConfig("inter", steps=2, batch=1, crop=32, length=2,
                                                                  lr=1e-3, qp_lr_scale=20.0, gate_lr_scale=5.0)])
    clips = synthetic_clips()
    trainer = Trainer(recipe, new_model(skip.name, seed=1), lambda s: CropSampler(clips, s.crop, s.length), tmp_path)
    groups = trainer.optimizer().param_groups
    assert [g["lr_scale"] for g in groups] == [1.0, 20.0, 5.0]
    gate = trainer.model.inter.recon_generation_net.gate
    assert [id(p) for p in groups[2]["params"]] == [id(gate.weight), id(gate.bias)]
    assert all(p.shape[0] == trainer.model.inter.qp_count for p in groups[1]["params"])
    trainer.train_step()


def test_stage_samplers_read_as_many_frames_as_the_stage_asks(tmp_path):
    from tests.cli.media import make_y4m

    clip = make_y4m(tmp_path / "c.y4m", frames=6, width=40, height=40)
    loads = []
    samplers = StageSamplers([clip], on_load=loads.append)
    short = StageConfig("inter", steps=1, batch=1, crop=32, length=2, max_frames=3)
    long = StageConfig("inter", steps=1, batch=1, crop=32, length=5, max_frames=6)
    assert samplers(short).clips[0].frames == 3
    samplers(short)  # the same budget: not read again
    assert samplers(long).clips[0].frames == 6 and loads == [3, 6]
    with pytest.raises(InputError):  # 3 frames cannot make samples of 5
        CropSampler(samplers.clips(3), 32, 5)


def test_late_refinement_stages_read_whole_clips():
    stages = Recipe().stages
    assert {s.max_frames for s in stages[:19]} == {48}
    assert [(s.stage, s.max_frames, s.still_share) for s in stages[19:23]] == [
        ("inter", 300, 0.25), ("intra", 48, 0.5), ("inter", 300, 0.25), ("intra", 300, 0.5)]
    assert stages[21].lr == stages[22].lr == 5e-5 and stages[23:25] == stages[21:23]
    # the large-crop pair: the same pixels per step as the pair before it
    for big, small in zip(stages[25:27], stages[23:25], strict=True):
        assert (big.stage, big.lr, big.max_frames, big.still_share) == (small.stage, small.lr, small.max_frames,
                                                                        small.still_share)
        assert big.batch * big.crop**2 == small.batch * small.crop**2 and big.crop == 2 * small.crop
    assert stages[27:29] == stages[29:31] == stages[25:27]
    # then the P frames on crops larger still, one sample a step, and the intra stage of the pair again
    assert stages[31] == replace(stages[29], crop=256, steps=3000) and stages[32] == stages[30]
    assert stages[33:35] == stages[35:37] == stages[37:39] == stages[31:33]
    assert stages[39] == replace(stages[31], i_qp_offset=P_QP_OFFSET) and stages[40] == stages[32]
    assert stages[41:43] == stages[43:45] == stages[45:47] == stages[47:49] == stages[39:41] and len(stages) == 73
    # stage 49 grows the reference skip in and trains its gate at 20x the rate; nothing else changes,
    # and the P-frame stages after it keep the gate's rate and end on their weights' moving average
    assert stages[49] == replace(stages[39], config="compact-skip", gate_lr_scale=20.0) and stages[50] == stages[40]
    assert stages[51] == stages[53] == replace(stages[39], gate_lr_scale=20.0, ema_decay=0.999)
    # and from stage 55 on 1 I + 15 P frames, on 192 x 192 crops, their base qp within the encoder's range
    assert stages[55] == replace(stages[53], length=16, crop=192, p_qp_max=51)
    averaged_intra = replace(stages[40], ema_decay=0.999)
    assert stages[52] == stages[40] and stages[54] == stages[56] == averaged_intra
    # and from stage 57 the wide quality range: the averaged intra stage at twice the rate, then the P
    # frames at block skip's operating point, their I frame 16 qp above (10x in lambda, as 24 were before)
    assert stages[57] == replace(averaged_intra, lambda_max=16000.0, steps=6000, lr=1e-4)
    assert stages[58] == replace(stages[55], lambda_max=16000.0, i_qp_offset=16, p_qp_max=47)
    assert stages[59] == replace(stages[58], motion=True)  # then its P frames see moved references
    # stage 60 trains them with motion on video only, up to base qp 63, and stage 61 with block skip as
    # the encoder applies it; stage 63 grows the intra model (wider latent and feature) and trains it
    # twice as long, and the P frames train again on it
    assert stages[60] == replace(stages[59], still_share=0.0, p_qp_max=63)
    assert stages[61] == replace(stages[60], block_skip=True)
    assert stages[62] == replace(stages[64], retired="") == replace(stages[61], coder_qps=True)  # the coder's qps
    assert replace(stages[63], retired="") == replace(stages[57], config="compact-skip-i256", steps=12000,
                                                      warmup_steps=500)
    # the grown intra stage and the P stage after it were retired; stage 65 trains stage 62's P frames on
    # sequences twice as long, in the shipped architecture
    assert stages[63].retired and stages[64].retired and not any(s.retired for s in stages[:63])
    assert stages[65] == replace(stages[62], length=32, steps=1500)
    assert stages[66] == replace(stages[65], length=64, retired=stages[66].retired) and stages[66].retired
    # stage 67 deepens the intra transforms and trains them at the wide range at half the rate, and
    # stage 68 trains the P frames on them as stage 62 did
    assert stages[67] == replace(stages[57], config="compact-skip-deep-intra", steps=8000, lr=5e-5,
                                 warmup_steps=200)
    assert stages[68] == stages[62]
    # stages 69-70 go on with both at a lower intra rate and a shorter P stage
    assert stages[69] == replace(stages[67], steps=6000, lr=3e-5, warmup_steps=100, retired=stages[69].retired)
    assert stages[70] == replace(stages[62], steps=2000, retired=stages[70].retired)
    assert stages[69].retired and stages[70].retired  # neither paid
    assert stages[71] == replace(stages[62], steps=3000, lr=3e-5, retired=stages[71].retired) and stages[71].retired
    assert stages[72] == replace(stages[71], level_qps=True, retired="")  # at the qps -q now gives them
    recipe = Recipe()
    assert recipe.config_at(62) == "compact-skip" and recipe.config_at(63) == "compact-skip-i256"
    assert recipe.config_at(65) == "compact-skip" and recipe.next_live(63) == 65
    assert recipe.next_live(66) == 67 and recipe.config_at(68) == "compact-skip-deep-intra"
    assert recipe.config_at(70) == "compact-skip-deep-intra"


def test_inter_samples_from_stills_hold_or_pan_the_crop():
    rng = np.random.default_rng(1)
    image = np.random.default_rng(2).integers(0, 255, (1, 64, 64), dtype=np.uint8)
    still = Clip("still", image, np.random.default_rng(3).integers(0, 255, (1, 2, 32, 32), dtype=np.uint8))
    video = synthetic_clips()[0]
    assert len(CropSampler([video, still], 32, 4).clips) == 1  # no still share: videos only
    sampler = CropSampler([video, still], 32, 4, still_share=1.0)
    moves = set()
    for _ in range(40):
        x = sampler._still_sequence(rng, still)
        assert x.shape == (4, 3, 32, 32)
        y = x[:, 0]
        found = [(dy, dx) for dy in (-2, 0, 2) for dx in (-2, 0, 2)  # frame t+1 is frame t moved by (dy, dx)
                 if torch.equal(y[1:, max(-dy, 0):32 - max(dy, 0), max(-dx, 0):32 - max(dx, 0)],
                                y[:-1, max(dy, 0):32 - max(-dy, 0), max(dx, 0):32 - max(-dx, 0)])]
        assert len(found) == 1
        moves.add(found[0])
    assert (0, 0) in moves and len(moves) > 3
    assert sampler.sample(rng, 2).shape == (2, 4, 3, 32, 32)


def test_hard_rate_counts_the_rounded_symbols():
    """The hard rate is the noiseless cost of what the coder sends: the same on every call, and no more
    than the noisy proxy where most elements are near-certain zeros (a fresh model at qp 0)."""
    from nvcodec.training.forward import inter_forward, intra_forward

    model = new_model("tiny", seed=1)
    x = CropSampler(synthetic_clips(), 32, 2).sample(np.random.default_rng(0), 2)
    qp = torch.tensor([0, 0])
    with torch.no_grad():
        hard = [intra_forward(model.intra, x[:, 0], qp, hard_rate=True).bits for _ in range(2)]
        noisy = [intra_forward(model.intra, x[:, 0], qp).bits for _ in range(2)]
        p_hard = [inter_forward(model.inter, x[:, 1], qp, x[:, 0], None, hard_rate=True).bits for _ in range(2)]
    assert torch.equal(hard[0], hard[1]) and torch.equal(p_hard[0], p_hard[1])
    assert not torch.equal(noisy[0], noisy[1])  # the proxy draws fresh noise
    assert (hard[0] <= noisy[0]).all()


def test_a_run_resumed_into_a_stage_that_grows_the_model_starts_a_fresh_average(tmp_path):
    """A checkpoint taken inside an averaging stage under an older recipe, resumed by a recipe whose
    stage grows the model there: the old average cannot be applied to the grown weights, so the
    stage's average starts again from them."""
    import dataclasses

    from nvcodec.models.config import ModelConfig, get_config, register_config

    tiny = get_config("tiny")
    register_config(ModelConfig("tiny-intra-y48", dataclasses.replace(tiny.intra, latent=48), tiny.inter))

    def trainer(path, grows: bool) -> Trainer:
        t = make_trainer(path, steps=3)
        t.recipe.stages = [replace(t.stage, steps=1),
                           replace(t.stage, ema_decay=0.9, config="tiny-intra-y48" if grows else None)]
        return t

    older = trainer(tmp_path / "a", grows=False)
    older.train_step()
    older.train_step()
    assert older._ema is not None and older.stage_index == 1
    path = older.save()
    resumed = trainer(tmp_path / "b", grows=True)
    resumed.load(path)
    resumed.train_step()
    assert resumed.model.config.name == "tiny-intra-y48"
    assert [e.shape for e in resumed._ema] == [p.shape for p in resumed.model.intra.parameters()]


def test_a_motion_stage_moves_each_reference_by_the_coders_search(tmp_path, monkeypatch):
    """Every P frame of every sample is searched in its own previous decoded frame, seeded by its
    previous field, and the networks read the reference moved by what the search found."""
    from nvcodec.codec import motion

    trainer = make_trainer(tmp_path, "inter")
    trainer.recipe.stages[0] = replace(trainer.stage, motion=True)
    clips = trainer.samplers(trainer.stage).sample(np.random.default_rng(2), 2)
    calls = []

    def search(x, reference, lam, previous=None, search_range=motion.SEARCH_RANGE):
        calls.append((x.shape, reference.shape, lam, previous is None))
        field = np.zeros((x.shape[-2] // 16, x.shape[-1] // 16, 2), dtype=np.int32)
        field[..., 1] = 6  # a pixel and a half to the right
        return field

    monkeypatch.setattr(motion, "search", search)
    warped = []
    original = motion.warp_frame
    monkeypatch.setattr(motion, "warp_frame", lambda f, v: warped.append(v.clone()) or original(f, v))
    qp = torch.tensor([20, 50])
    torch.manual_seed(0)
    moved, _, _ = trainer._inter_loss(clips, qp)
    assert len(calls) == 2 * (clips.shape[1] - 1)
    assert [c[3] for c in calls] == [True, True] + [False] * (len(calls) - 2)  # seeded from the 2nd P frame
    assert calls[0][2] < calls[1][2]  # each sample at its own lambda
    assert all((v[..., 1] == 6).all() for v in warped)
    trainer.recipe.stages[0] = replace(trainer.stage, motion=False)
    torch.manual_seed(0)
    still, _, _ = trainer._inter_loss(clips, qp)
    assert float(moved.detach()) != float(still.detach())


def test_a_coder_qps_stage_draws_the_i_frame_and_gives_its_p_frames_the_coders_default(tmp_path, monkeypatch):
    """As ``-q`` does: the drawn qp is the I frame's, and the P frames sit where the encoder puts them."""
    from nvcodec.settings import default_p_qp

    trainer = make_trainer(tmp_path, "inter")
    trainer.recipe.stages[0] = replace(trainer.stage, coder_qps=True, block_skip=True, p_qp_max=20)
    assert int(torch.cat([trainer._qps(64) for _ in range(20)]).max()) == 63  # p_qp_max is not its range
    assert [sample_qps(trainer.stage, q) for q in (10, 40, 55, 63)] == [(10, 0), (40, 16), (55, 43), (63, 63)]
    assert all(sample_qps(trainer.stage, q) == (q, default_p_qp(q, True)) for q in range(64))
    assert sample_qps(replace(trainer.stage, coder_qps=False, i_qp_offset=16), 50) == (63, 50)
    # as -q gives them since -q reaches for the picture layer: the I frame's qp stops at the layer's
    # knee, the P frames' rule at theirs
    from nvcodec.settings import LAYER_KNEE, LAYER_P_KNEE

    levels = replace(trainer.stage, level_qps=True)
    assert [sample_qps(levels, q) for q in (10, 40, 48, 63)] == [
        (10, 0), (40, 16), (LAYER_KNEE, default_p_qp(48, True)), (LAYER_KNEE, default_p_qp(LAYER_P_KNEE, True))]
    seen_i, seen_p, original_i, original_p = [], [], loop.intra_forward, loop.inter_forward
    monkeypatch.setattr(loop, "intra_forward", lambda m, x, qp, hard_rate=False: seen_i.append(qp.tolist())
                        or original_i(m, x, qp, hard_rate))
    monkeypatch.setattr(loop, "inter_forward",
                        lambda m, x, qp, *a: seen_p.append(qp.tolist()) or original_p(m, x, qp, *a))
    clips = trainer.samplers(trainer.stage).sample(np.random.default_rng(5), 2)
    trainer._inter_loss(clips, torch.tensor([40, 63]))
    assert seen_i == [[40, 63]] and seen_p[1] == [16, 63]  # the second P frame carries no hierarchical shift


def test_a_block_skip_stage_codes_its_p_frames_with_the_encoders_maps(tmp_path, monkeypatch):
    """Each P frame's maps come from the coder's rule on that frame and its own previous picture, and
    the pass codes with them and the coder's threshold."""
    from nvcodec.settings import DEFAULT_SKIP_THRESHOLD

    trainer = make_trainer(tmp_path, "inter")
    trainer.recipe.stages[0] = replace(trainer.stage, block_skip=True)
    clips = trainer.samplers(trainer.stage).sample(np.random.default_rng(2), 2)
    chosen, passed, original = [], [], loop.coder_skips
    monkeypatch.setattr(loop, "coder_skips", lambda *a: chosen.append(original(*a)) or chosen[-1])
    original_forward = loop.inter_forward
    monkeypatch.setattr(loop, "inter_forward", lambda *a: passed.append(a[-2:]) or original_forward(*a))
    qp = torch.tensor([20, 50])
    torch.manual_seed(0)
    coded, _, _ = trainer._inter_loss(clips, qp)
    assert len(chosen) == len(passed) == clips.shape[1] - 1
    assert all(m.shape == (2, clips.shape[-2] // 16, clips.shape[-1] // 16) for m in chosen)
    assert all(skips is m and threshold == DEFAULT_SKIP_THRESHOLD
               for (skips, threshold), m in zip(passed, chosen, strict=True))
    trainer.recipe.stages[0] = replace(trainer.stage, block_skip=False)
    torch.manual_seed(0)
    plain, _, _ = trainer._inter_loss(clips, qp)
    assert not any(m.any() for m in chosen) or float(coded.detach()) != float(plain.detach())
