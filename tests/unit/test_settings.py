"""The settings a stream is coded with have one answer, decided against the model before an encoder exists."""

from __future__ import annotations

import pytest

from nvcodec.errors import ConfigError
from nvcodec.models.config import get_config
from nvcodec.settings import P_OFFSET_KNEE, P_QP_OFFSET, P_QP_OFFSET_BLOCK_SKIP, QP_MAX, CodingSettings, default_p_qp


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
    assert CodingSettings(qp_i=63).resolve(gated if block_skip else plain).base_qp_p == 63


def test_rate_control_levels_follow_the_rule_the_settings_follow():
    from nvcodec.ratecontrol.controller import p_bases

    gated = get_config("compact-skip").inter
    assert p_bases(CodingSettings(qp_i=60).resolve(gated)) == tuple(default_p_qp(q, True) for q in range(64))
    explicit = CodingSettings(qp_i=60, qp_p=50, block_skip=True).resolve(gated)
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
