"""The settings a stream is coded with have one answer, decided against the model before an encoder exists."""

from __future__ import annotations

import pytest

from nvcodec.errors import ConfigError
from nvcodec.models.config import get_config
from nvcodec.settings import (
    LAYER_KNEE,
    LAYER_P_KNEE,
    LAYER_P_QP_OFFSET,
    LAYER_P_STEP_RATIO,
    LAYER_P_TOP_STEP,
    LAYER_TOP_STEP,
    P_OFFSET_KNEE,
    P_QP_OFFSET,
    P_QP_OFFSET_BLOCK_SKIP,
    QP_MAX,
    CodingSettings,
    default_p_qp,
    level_layer_step,
    level_p_layer_step,
)


def test_the_default_p_qp_is_decided_by_the_model():
    gated, plain = get_config("compact-skip").inter, get_config("dcvc-rt").inter
    asked = CodingSettings(qp_i=40)
    with pytest.raises(ConfigError, match="resolved"):
        _ = asked.base_qp_p  # no answer before the model is known
    assert not asked.is_resolved
    ours = asked.resolve(gated)
    assert ours.is_resolved and ours.block_skip is True and ours.base_qp_p == 40 - P_QP_OFFSET_BLOCK_SKIP
    theirs = asked.resolve(plain)
    assert theirs.block_skip is False and theirs.base_qp_p == 40 - P_QP_OFFSET
    # what the user says wins, and resolving twice changes nothing
    assert CodingSettings(qp_i=40, qp_p=33, block_skip=False).resolve(gated).base_qp_p == 33
    assert ours.resolve(plain) == ours
    assert CodingSettings(qp_i=5).resolve(gated).base_qp_p == 0


@pytest.mark.parametrize("block_skip,offset", [(True, P_QP_OFFSET_BLOCK_SKIP), (False, P_QP_OFFSET)])
def test_the_default_p_qp_spans_the_range_and_reaches_the_top(block_skip, offset):
    """The full offset up to the knee; above it the offset narrows, so the P frames rise faster than the
    I frame and meet it at qp 63 (a constant offset stopped them at 63 - offset)."""
    rule = [default_p_qp(q, block_skip) for q in range(QP_MAX + 1)]
    assert rule[: offset + 1] == [0] * (offset + 1)
    assert rule[offset: P_OFFSET_KNEE + 1] == list(range(P_OFFSET_KNEE + 1 - offset))
    assert rule[QP_MAX] == QP_MAX
    top = rule[P_OFFSET_KNEE:]
    assert all(b > a for a, b in zip(top, top[1:], strict=False))  # strictly rising above the knee
    assert all(0 <= q - p <= offset for q, p in enumerate(rule))
    gated, plain = get_config("compact-skip").inter, get_config("dcvc-rt").inter
    networks = CodingSettings(qp_i=63, layer=False)  # the networks' own qp, as rate control moves it
    assert networks.resolve(gated if block_skip else plain).base_qp_p == 63


def test_rate_control_levels_follow_the_rule_the_settings_follow():
    from nvcodec.ratecontrol.controller import p_bases

    gated = get_config("compact-skip").inter
    controlled = CodingSettings(qp_i=60).for_rate_control()
    assert p_bases(controlled.resolve(gated)) == tuple(default_p_qp(q, True) for q in range(64))
    explicit = CodingSettings(qp_i=60, qp_p=50, block_skip=True).for_rate_control().resolve(gated)
    assert p_bases(explicit) == tuple(max(0, q - 10) for q in range(64))


def test_the_encoder_codes_what_resolve_says(tmp_path):
    from nvcodec.codec.sequence import SequenceEncoder
    from nvcodec.models.bundle import synthetic_model

    model = synthetic_model(1, "tiny")
    asked = CodingSettings(qp_i=40, reset_interval=0)
    assert SequenceEncoder(model, asked).settings == asked.resolve(model.inter.cfg)


def test_the_help_text_gives_both_offsets():
    from nvcodec_cli.encode import encode

    text = next(p.help for p in encode.params if p.name == "qp_p")
    assert f"{P_QP_OFFSET_BLOCK_SKIP} with block skip" in text and f"{P_QP_OFFSET} without" in text


@pytest.mark.parametrize("rule,knee,top", [(level_layer_step, LAYER_KNEE, LAYER_TOP_STEP),
                                            (level_p_layer_step, LAYER_P_KNEE, LAYER_P_TOP_STEP)])
def test_each_frame_types_layer_step_falls_from_64_over_its_knee_to_the_top(rule, knee, top):
    steps = [rule(q) for q in range(QP_MAX + 1)]
    assert steps[: knee + 1] == [None] * (knee + 1)
    above = steps[knee + 1:]
    assert above[-1] == top and above[0] <= 64
    assert all(b < a for a, b in zip(above, above[1:], strict=False))  # strictly finer as -q rises
    assert all(s * 16 == int(s * 16) for s in above)  # steps the stream can carry


def test_levels_above_the_knee_are_the_networks_at_the_knee_plus_a_finer_and_finer_layer():
    gated, plain = get_config("compact-skip").inter, get_config("dcvc-rt").inter
    top = CodingSettings(qp_i=63).resolve(gated)
    assert (top.qp_i, top.layer_step, top.layer_step_p, top.layer) == (
        LAYER_KNEE, LAYER_TOP_STEP, LAYER_P_TOP_STEP, True)
    assert top.qp_p == default_p_qp(LAYER_P_KNEE, True)  # the P frames' qp stops at their knee's
    assert top.resolve(gated) == top and top.is_resolved  # resolving twice changes nothing
    between = CodingSettings(qp_i=LAYER_P_KNEE).resolve(gated)
    assert (between.qp_i, between.layer_step_p, between.layer) == (LAYER_KNEE, None, True)
    assert between.qp_p == default_p_qp(LAYER_P_KNEE, True) and between.resolve(gated) == between
    knee = CodingSettings(qp_i=LAYER_KNEE).resolve(gated)
    assert (knee.qp_i, knee.layer_step, knee.layer) == (LAYER_KNEE, None, False)
    # DCVC-RT's models keep DCVC-RT's syntax unless asked; --no-layer keeps the networks' qp
    assert CodingSettings(qp_i=63).resolve(plain).layer is False
    assert CodingSettings(qp_i=63, layer=True).resolve(plain).layer_step == LAYER_TOP_STEP
    assert CodingSettings(qp_i=63, layer=False).resolve(gated).qp_i == 63
    # a step given codes the networks at -q as given, the P frames at the ratio's step
    explicit = CodingSettings(qp_i=50, layer_step=8.0).resolve(gated)
    assert (explicit.qp_i, explicit.layer_step, explicit.layer_step_p, explicit.layer) == (
        50, 8.0, 8.0 * LAYER_P_STEP_RATIO, True)
    assert explicit.qp_p == 50 - LAYER_P_QP_OFFSET


def test_rate_control_moves_the_networks_qp_and_keeps_a_layer_only_where_a_step_was_given():
    assert CodingSettings(qp_i=63).for_rate_control().layer is False
    assert CodingSettings(layer_step=8.0).for_rate_control().layer_step_p == 8.0 * LAYER_P_STEP_RATIO
    assert CodingSettings(layer_step=8.0).for_rate_control().layer is True
    assert CodingSettings(layer=True).for_rate_control().layer is True


def test_no_layer_with_a_layer_step_is_refused_by_name():
    with pytest.raises(ConfigError, match="layer"):
        CodingSettings(layer=False, layer_step=8.0)
    with pytest.raises(ConfigError, match="layer"):
        CodingSettings(layer=False, layer_step_p=8.0)
    with pytest.raises(ConfigError, match="layer_step_p"):
        CodingSettings(layer_step_p=0.5)
    with pytest.raises(ConfigError, match="layer"):
        CodingSettings(layer="yes")
