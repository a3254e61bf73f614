"""Narrowing the inter FFNs keeps what the wide model computes as far as a least-squares fit can."""

import dataclasses

import pytest
import torch

from nvcodec.errors import ModelError
from nvcodec.models.config import ModelConfig, get_config, register_config
from nvcodec.models.layers import DepthConvBlock
from nvcodec.training import prune
from nvcodec.training.data import CropSampler
from nvcodec.training.forward import inter_forward
from nvcodec.training.loop import Trainer, new_model
from nvcodec.training.recipe import Recipe, StageConfig

from .test_grow import trained_looking
from .test_training import synthetic_clips

TINY = get_config("tiny")
NARROW = ModelConfig("tiny-ffn2", TINY.intra, dataclasses.replace(TINY.inter, ffn_expansion=2))


def test_the_refit_read_out_reproduces_units_that_the_kept_ones_predict(monkeypatch):
    monkeypatch.setattr(prune, "RIDGE", 1e-12)
    generator = torch.Generator().manual_seed(0)
    kept = torch.randn(4000, 4, generator=generator, dtype=torch.float64)
    mix = torch.randn(4, 4, generator=generator, dtype=torch.float64)
    hidden = torch.cat((kept, kept @ mix + 0.3), dim=1)  # units 4..7: affine in units 0..3
    read_out = torch.randn(3, 8, generator=generator, dtype=torch.float64)
    moments = prune._Moments()
    moments.add(hidden.T.reshape(1, 8, 4000, 1))
    mean, cov = moments.mean_and_covariance()
    weight, shift = prune._refit(read_out, mean, cov, torch.arange(4))
    torch.testing.assert_close(kept @ weight.T + shift, hidden @ read_out.T, rtol=0, atol=1e-6)
    # and the plain cut (the dropped units' weights thrown away) would not
    assert (kept @ read_out[:, :4].T - hidden @ read_out.T).abs().max() > 0.5


def _calibration_frames(inter):
    """Two P frames (from pixels, then from the stored feature) at several qps, large enough that
    even the 1/64-resolution hyperprior blocks see more positions than they have hidden units."""
    x0 = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    x1 = (x0 + 0.1 * torch.rand(x0.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    outputs = []
    for qp in range(0, 71, 10):
        qps = torch.tensor([qp, max(0, qp - 3)])
        first = inter_forward(inter, x1, qps, x0, None)
        second = inter_forward(inter, x0, qps, None, first.feature)
        outputs.append((first, second))
    return outputs


def test_narrowing_keeps_the_units_that_matter_and_reproduces_the_p_frames(monkeypatch):
    """Silence half of every FFN's hidden units in a wide model: narrowing must find exactly those
    units to drop, and the narrow model then codes the same P frames."""
    monkeypatch.setattr(prune, "RIDGE", 1e-12)
    model = trained_looking()
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for block in model.inter.modules():
            if isinstance(block, DepthConvBlock):
                units = block.ffn[2].in_channels
                block.ffn[2].weight[:, torch.randperm(units, generator=generator)[: units // 2]] = 0.0
    torch.manual_seed(0)
    model.inter.eval()
    narrow = prune.narrow_ffns(model, NARROW, lambda inter: _calibration_frames(inter))
    assert narrow.config == NARROW and narrow.intra is model.intra
    for block in narrow.inter.modules():
        if isinstance(block, DepthConvBlock):
            assert block.ffn[0].out_channels == 2 * block.ffn[2].out_channels
    narrow.inter.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        wide_out = _calibration_frames(model.inter)
        torch.manual_seed(0)
        narrow_out = _calibration_frames(narrow.inter)
    for (a1, a2), (b1, b2) in zip(wide_out, narrow_out, strict=True):
        for a, b in ((a1, b1), (a2, b2)):
            torch.testing.assert_close(b.x_hat, a.x_hat, rtol=0, atol=1e-4)
            torch.testing.assert_close(b.feature, a.feature, rtol=1e-4, atol=1e-4)


def test_only_the_inter_ffn_expansion_may_narrow():
    model = new_model("tiny", seed=1)
    assert prune.is_ffn_narrowing(TINY, NARROW)
    assert not prune.is_ffn_narrowing(NARROW, TINY)
    wider = ModelConfig("tiny-ffn2-f32", TINY.intra, dataclasses.replace(NARROW.inter, feature=32))
    for target in (TINY, wider):
        with pytest.raises(ModelError, match="only the inter FFN expansion"):
            prune.narrow_ffns(model, target, lambda inter: None)


def test_an_odd_expansion_is_refused():
    with pytest.raises(ModelError, match="FFN expansion"):
        dataclasses.replace(TINY.inter, ffn_expansion=3).validate()


def test_a_recipe_stage_narrows_the_model_and_a_resume_keeps_the_narrow_config(tmp_path):
    register_config(NARROW)
    stages = [StageConfig("inter", steps=2, batch=2, crop=32, length=3, lr=1e-3),
              StageConfig("inter", steps=3, batch=2, crop=32, length=3, lr=1e-3, config=NARROW.name)]
    clips = synthetic_clips()

    def trainer(out):
        return Trainer(Recipe(config="tiny", seed=3, stages=stages), new_model("tiny", seed=1),
                       lambda s: CropSampler(clips, s.crop, s.length), out)

    straight = trainer(tmp_path / "a")
    for _ in range(5):
        straight.train_step()
    assert straight.model.config.name == NARROW.name
    assert straight.model.inter.recon_generation_net.conv[0].ffn[2].in_channels == TINY.inter.recon

    first = trainer(tmp_path / "b")
    for _ in range(3):
        first.train_step()
    path = first.save()
    resumed = trainer(tmp_path / "c")
    resumed.load(path)
    assert resumed.model.config.name == NARROW.name
    for _ in range(2):
        resumed.train_step()
    for a, b in zip(straight.model.inter.state_dict().values(), resumed.model.inter.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
