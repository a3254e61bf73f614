"""The settings a stream is coded with have one answer, decided against the model before an encoder exists."""

from __future__ import annotations

import pytest

from nvcodec.errors import ConfigError
from nvcodec.models.config import get_config
from nvcodec.settings import P_QP_OFFSET, P_QP_OFFSET_BLOCK_SKIP, CodingSettings


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
