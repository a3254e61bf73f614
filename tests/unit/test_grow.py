"""Growing a trained model into a wider config keeps its outputs and lets the new channels learn."""

import dataclasses

import pytest
import torch

from nvcodec.errors import ModelError
from nvcodec.models.config import ModelConfig, get_config, register_config
from nvcodec.training.data import CropSampler
from nvcodec.training.forward import inter_forward, yuv_mse
from nvcodec.training.grow import block_spectrum_prior, grow_model
from nvcodec.training.loop import Trainer, new_model
from nvcodec.training.recipe import Recipe, StageConfig

from .test_training import synthetic_clips

TINY = get_config("tiny")
WIDE = ModelConfig("tiny-recon48", TINY.intra, dataclasses.replace(TINY.inter, recon=48))


def trained_looking(config: ModelConfig = TINY, part: str = "inter"):
    """A model whose every parameter of ``part`` (inter or intra) is non-trivial, so a growth that drops
    one would show."""
    from nvcodec.models.bundle import CodecModel
    from nvcodec.models.inter import InterModel
    from nvcodec.models.intra import IntraModel

    base = new_model("tiny", seed=1)
    net = InterModel(config.inter) if part == "inter" else IntraModel(config.intra)
    generator = torch.Generator().manual_seed(4 if part == "inter" else 5)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    if part == "inter":
        return CodecModel("t", config, base.intra, net, "")
    return CodecModel("t", config, net, base.inter, "")


def p_frames(model, qp: int):
    torch.manual_seed(0)
    x0 = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    x1 = (x0 + 0.1 * torch.rand(x0.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    first = inter_forward(model.inter, x1, torch.tensor([qp, qp + 5]), x0, None)
    second = inter_forward(model.inter, x0, torch.tensor([qp, qp + 5]), first.x_hat, first.feature)
    return x1, first, second


def assert_same_p_frames(model, grown, same_rate: bool = True) -> None:
    """Both models code the same two P frames (from pixels, then from the stored feature) at three qps;
    the stored feature keeps its old channels (a wider one adds its own).  ``same_rate`` False: a wider
    latent draws other quantisation noise, so its noisy rate proxy is not compared here."""
    model.inter.eval()
    grown.inter.eval()
    old_width = model.config.inter.feature
    with torch.no_grad():
        for qp in (0, 40, 66):
            _, a1, a2 = p_frames(model, qp)
            _, b1, b2 = p_frames(grown, qp)
            for a, b in ((a1, b1), (a2, b2)):
                torch.testing.assert_close(b.x_hat, a.x_hat, rtol=0, atol=1e-6)
                if same_rate:
                    torch.testing.assert_close(b.bits, a.bits, rtol=1e-6, atol=1e-3)
                torch.testing.assert_close(b.feature[:, :old_width], a.feature, rtol=0, atol=1e-6)


@pytest.mark.parametrize("recon_blocks", [1, 2])
def test_grown_model_computes_what_it_grew_from(recon_blocks):
    def blocks(config: ModelConfig) -> ModelConfig:
        return dataclasses.replace(config, inter=dataclasses.replace(config.inter, recon_blocks=recon_blocks))

    model = trained_looking(blocks(TINY))
    grown = grow_model(model, blocks(WIDE))
    assert grown.inter.recon_generation_net.head.in_channels == 48
    assert_same_p_frames(model, grown)
    assert grown.intra is model.intra


@pytest.mark.parametrize("field", ["extractor_conv1_blocks", "extractor_conv2_blocks", "encoder_conv2_blocks",
                                   "decoder_conv1_blocks", "recon_blocks"])
def test_a_deeper_stack_computes_what_it_grew_from_and_then_learns(field):
    deeper = dataclasses.replace(WIDE, name=f"wide-{field}",
                                 inter=dataclasses.replace(WIDE.inter, **{field: getattr(WIDE.inter, field) + 1}))
    model = trained_looking()
    grown = grow_model(model, deeper)
    assert_same_p_frames(model, grown)
    grown.inter.train()
    x1, first, _ = p_frames(grown, 30)
    (yuv_mse(first.x_hat, x1).mean() + first.bits.mean()).backward()
    # the new block's zero read-outs get a gradient, so the block leaves the identity at the first step
    new_block = {"extractor_conv1_blocks": grown.inter.feature_extractor.conv1,
                 "extractor_conv2_blocks": grown.inter.feature_extractor.conv2,
                 "encoder_conv2_blocks": grown.inter.encoder.conv2, "decoder_conv1_blocks": grown.inter.decoder.conv1,
                 "recon_blocks": grown.inter.recon_generation_net.conv}[field][-1]
    assert torch.count_nonzero(new_block.ffn[2].weight) == 0
    assert new_block.ffn[2].weight.grad.abs().sum() > 0 and new_block.dc[3].weight.grad.abs().sum() > 0
    with pytest.raises(ModelError, match="lose blocks"):
        grow_model(grown, dataclasses.replace(deeper, inter=dataclasses.replace(deeper.inter, **{
            field: getattr(WIDE.inter, field)})))


def test_new_channels_receive_gradients_from_the_first_step():
    grown = grow_model(trained_looking(), WIDE)
    grown.inter.train()
    x1, first, _ = p_frames(grown, 30)
    yuv_mse(first.x_hat, x1).mean().backward()
    head = grown.inter.recon_generation_net.head
    assert head.weight.grad[:, 24:].abs().sum() > 0
    assert torch.count_nonzero(head.weight[:, 24:]) == 0  # they start silent


def test_only_the_recon_feature_view_and_latent_widths_may_grow():
    model = new_model("tiny", seed=1)
    with pytest.raises(ModelError, match="only the inter recon, feature, encoder view and latent widths, the block"):
        grow_model(model, dataclasses.replace(WIDE, inter=dataclasses.replace(WIDE.inter, hyper=32)))
    with pytest.raises(ModelError, match="shrink"):
        grow_model(model, dataclasses.replace(WIDE, inter=dataclasses.replace(TINY.inter, latent=8)))
    with pytest.raises(ModelError, match="only the latent and feature widths"):
        grow_model(model, dataclasses.replace(WIDE, intra=dataclasses.replace(WIDE.intra, hyper=32)))
    with pytest.raises(ModelError, match="intra width or depth would shrink"):
        grow_model(model, dataclasses.replace(WIDE, intra=dataclasses.replace(WIDE.intra, latent=16)))
    with pytest.raises(ModelError, match="shrink"):
        grow_model(model, dataclasses.replace(WIDE, inter=dataclasses.replace(TINY.inter, feature=16)))


def test_a_grown_latent_decodes_what_it_grew_from_and_its_new_channels_learn():
    """Each spatial-context half of the latent grows at its own end; nothing old reads the new channels,
    so the pictures and features are unchanged, and the new channels cost only their few rounded bits."""
    target = ModelConfig("tiny-y24", TINY.intra, dataclasses.replace(TINY.inter, latent=24))
    model = trained_looking()
    grown = grow_model(model, target)
    assert grown.inter.y_prior_fusion.conv[-1].out_channels == 3 * 24
    assert_same_p_frames(model, grown, same_rate=False)
    with torch.no_grad():
        for qp in (0, 40, 66):
            # the rate of the rounded symbols
            x1, x0 = p_frames(model, qp)[0], torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
            a, b = (inter_forward(m.inter, x1, torch.tensor([qp, qp + 5]), x0, None, hard_rate=True)
                    for m in (model, grown))
            assert (a.bits <= b.bits).all() and (b.bits < 1.02 * a.bits).all()
    # the old channels keep their place in each half: the second half moved from 8.. to 12..
    torch.testing.assert_close(grown.inter.encoder.down.weight[12:20], model.inter.encoder.down.weight[8:16])
    grown.inter.train()
    x1, first, _ = p_frames(grown, 30)
    (yuv_mse(first.x_hat, x1).mean() + first.bits.mean()).backward()
    up = grown.inter.decoder.up.conv[0]
    new_inputs = torch.tensor([8, 9, 10, 11, 20, 21, 22, 23])
    assert torch.count_nonzero(up.weight[:, new_inputs]) == 0
    assert up.weight.grad[:, new_inputs].abs().sum() > 0


@pytest.mark.parametrize(("feature", "recon"), [(32, 24), (40, 48)])
def test_a_grown_feature_path_computes_what_it_grew_from(feature, recon):
    target = ModelConfig(f"tiny-f{feature}-r{recon}", TINY.intra,
                         dataclasses.replace(TINY.inter, feature=feature, recon=recon))
    model = trained_looking()
    grown = grow_model(model, target)
    assert grown.inter.feature_adaptor_p.in_channels == feature
    assert_same_p_frames(model, grown)
    # and the layers that read the new feature channels learn from the first step (their weights on
    # them start at zero, so nothing upstream gets a gradient before they move)
    grown.inter.train()
    x1, first, _ = p_frames(grown, 30)
    (yuv_mse(first.x_hat, x1).mean() + first.bits.mean()).backward()
    assert grown.inter.encoder.down.weight.grad[:, 24:].abs().sum() > 0
    assert grown.inter.decoder.conv2.weight.grad[:24, 24:].abs().sum() > 0
    assert torch.count_nonzero(grown.inter.encoder.down.weight[:, 24:]) == 0


def test_a_feature_path_grows_behind_a_fixed_encoder_view():
    """compact-view128 -> compact-feature96 in small: the encoder's view stays, the feature widens."""
    viewed = ModelConfig("tiny-v40", TINY.intra, dataclasses.replace(TINY.inter, encoder_view=40))
    target = ModelConfig("tiny-v40-f32", TINY.intra, dataclasses.replace(viewed.inter, feature=32))
    model = trained_looking(viewed)
    grown = grow_model(model, target)
    assert grown.inter.encoder.conv2[0].adaptor.in_channels == 40 + 32
    assert_same_p_frames(model, grown)


def test_a_recipe_stage_grows_the_model_and_a_resume_keeps_the_grown_config(tmp_path):
    register_config(WIDE)
    stages = [StageConfig("inter", steps=2, batch=1, crop=32, length=2, lr=1e-3),
              StageConfig("inter", steps=3, batch=1, crop=32, length=2, lr=1e-3, config=WIDE.name)]
    recipe = Recipe(config="tiny", seed=3, stages=stages)
    assert [recipe.config_at(i) for i in range(2)] == ["tiny", WIDE.name]
    clips = synthetic_clips()

    def trainer(out):
        return Trainer(Recipe(config="tiny", seed=3, stages=stages), new_model("tiny", seed=1),
                       lambda s: CropSampler(clips, s.crop, s.length), out)

    straight = trainer(tmp_path / "a")
    for _ in range(5):
        straight.train_step()
    assert straight.model.config.name == WIDE.name

    first = trainer(tmp_path / "b")
    for _ in range(3):
        first.train_step()
    path = first.save()  # before another trainer reseeds torch's global generator
    resumed = trainer(tmp_path / "c")
    resumed.load(path)
    assert resumed.model.config.name == WIDE.name
    for _ in range(2):
        resumed.train_step()
    for a, b in zip(straight.model.inter.state_dict().values(), resumed.model.inter.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_a_grown_encoder_view_computes_what_it_grew_from_and_sees_what_it_missed():
    target = ModelConfig("tiny-view40", TINY.intra, dataclasses.replace(TINY.inter, encoder_view=40))
    model = trained_looking()
    grown = grow_model(model, target)
    conv1 = grown.inter.encoder.conv1
    assert conv1.out_channels == 40
    assert grown.inter.encoder.conv2[0].adaptor.in_channels == 40 + TINY.inter.feature
    assert_same_p_frames(model, grown)
    # the new rows look where the old ones are blind: orthogonal to their span, and not empty
    old = model.inter.encoder.conv1.weight[:, :, 0, 0].double()
    new = conv1.weight[24:, :, 0, 0].double()
    q, _ = torch.linalg.qr(old.T)
    assert (new @ q).abs().max() < 1e-5 * new.abs().max()
    assert torch.linalg.matrix_rank(new) == 16
    # the layer reading them starts deaf to them and learns from the first step
    adaptor = grown.inter.encoder.conv2[0].adaptor
    assert torch.count_nonzero(adaptor.weight[:, 24:40]) == 0
    grown.inter.train()
    x1, first, _ = p_frames(grown, 30)
    (yuv_mse(first.x_hat, x1).mean() + first.bits.mean()).backward()
    assert adaptor.weight.grad[:, 24:40].abs().sum() > 0


def test_a_view_never_shrinks():
    model = grow_model(trained_looking(), ModelConfig("tiny-view40", TINY.intra,
                                                      dataclasses.replace(TINY.inter, encoder_view=40)))
    with pytest.raises(ModelError, match="shrink"):
        grow_model(model, ModelConfig("tiny-view32", TINY.intra, dataclasses.replace(TINY.inter, encoder_view=32)))


def test_the_block_prior_puts_the_most_variance_on_flat_luma_and_least_on_fine_chroma():
    prior = block_spectrum_prior()
    assert prior.shape == (192, 192)
    torch.testing.assert_close(prior, prior.T)
    values, vectors = torch.linalg.eigh(prior)
    assert values.min() > 0
    top = vectors[:, values.argmax()]
    torch.testing.assert_close(top[:64].abs(), torch.full((64,), 1 / 8, dtype=torch.float64))
    assert top[64:].abs().max() < 1e-9


@pytest.mark.parametrize("expansion", [4, 2])
def test_a_pixel_skip_grows_closed_and_opens_from_the_first_step(expansion):
    """reference_skip added to a trained model: the new gate starts at zero, so the P frames come out as
    before, and it gets a gradient at once; a grown model never loses it again."""
    base = ModelConfig(f"tiny-ffn{expansion}", TINY.intra, dataclasses.replace(TINY.inter, ffn_expansion=expansion))
    target = ModelConfig(f"tiny-ffn{expansion}-skip", TINY.intra, dataclasses.replace(base.inter, reference_skip=True))
    model = trained_looking(base)
    grown = grow_model(model, target)
    gate = grown.inter.recon_generation_net.gate
    assert torch.count_nonzero(gate.weight) == 0 and torch.count_nonzero(gate.bias) == 0
    assert_same_p_frames(model, grown)
    grown.inter.train()
    x1, _, second = p_frames(grown, 30)
    yuv_mse(second.x_hat, x1).mean().backward()
    assert gate.weight.grad.abs().sum() > 0
    with pytest.raises(ModelError, match="shrink"):
        grow_model(grown, base)


@pytest.mark.parametrize("widths", [dict(latent=48), dict(feature=32), dict(enc_blocks=2, dec_blocks=2),
                                    dict(latent=48, feature=40, dec_blocks=2, enc_blocks=2)])
def test_a_grown_intra_model_decodes_what_it_grew_from_and_its_new_channels_learn(widths):
    """The latent grows per spatial-context quarter and the feature domain at its end: the coder's
    reconstruction and rate are unchanged at every qp, and the new channels get gradients at the
    first step."""
    from nvcodec.codec.intra_codec import IntraCodec

    target = ModelConfig("tiny-intra-wide", dataclasses.replace(TINY.intra, **widths), TINY.inter)
    model = trained_looking(part="intra")
    grown = grow_model(model, target)
    assert grown.inter is model.inter
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(3))
    for qp in (0, 31, 63):
        _, before = IntraCodec(model.intra).compress(x, qp, None)
        _, after = IntraCodec(grown.intra).compress(x, qp, None)
        torch.testing.assert_close(after, before, rtol=0, atol=1e-5)
        with torch.no_grad():  # and the coded rate: the new channels are zeros at the scale floor
            rate = [IntraCodec(m.intra).forward(x, torch.tensor([qp]), hard_rate=True).bits for m in (model, grown)]
        torch.testing.assert_close(rate[1], rate[0], rtol=1e-3, atol=1.0)
    grown.intra.train()
    out = IntraCodec(grown.intra).forward(x, torch.tensor([63]))
    (yuv_mse(out.x_hat, x).mean() * 1000 + out.bits.mean()).backward()
    old_latent, new_latent = TINY.intra.latent, target.intra.latent
    if new_latent > old_latent:
        fresh = torch.ones(new_latent, dtype=torch.bool)
        for k in range(4):
            fresh[k * new_latent // 4: k * new_latent // 4 + old_latent // 4] = False
        # the new channels start at zero, read through fresh weights: the analysis rows that make
        # them learn from the picture's error at the first step
        assert torch.count_nonzero(grown.intra.enc.enc_2[-1].weight[fresh]) == 0
        assert torch.count_nonzero(grown.intra.dec.dec_1[0].up.conv[0].weight[:, fresh]) > 0
        assert grown.intra.enc.enc_2[-1].weight.grad[fresh].abs().sum() > 0
    if target.intra.feature > TINY.intra.feature:
        adaptor = grown.intra.dec.dec_2.adaptor
        assert torch.count_nonzero(adaptor.weight[:, TINY.intra.feature:]) == 0  # new features start silent
        assert adaptor.weight.grad[:, TINY.intra.feature:].abs().sum() > 0
