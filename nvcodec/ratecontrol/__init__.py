"""Rate control: a qp for every frame so that a stream lands on a bitrate, fits a buffer, or both.

DCVC-RT codes every frame at its own qp with one model, which is what makes this possible without
touching the stream: the decoder reads each frame's qp from its unit.  Nothing here imports torch;
the encoder is driven through :mod:`nvcodec.transcode`.
"""

from nvcodec.ratecontrol.controller import FixedQp, OnePass, RateController, RateSummary
from nvcodec.ratecontrol.request import RateRequest, build_controller, finish
from nvcodec.ratecontrol.twopass import PassLog, PassOneRecorder, TwoPass, read_pass_log
from nvcodec.ratecontrol.units import parse_bitrate, parse_bits
from nvcodec.ratecontrol.vbv import Vbv, replay_buffer

__all__ = ["FixedQp", "OnePass", "PassLog", "PassOneRecorder", "RateController", "RateRequest", "RateSummary",
           "TwoPass", "Vbv", "build_controller", "finish", "parse_bitrate", "parse_bits", "read_pass_log",
           "replay_buffer"]
