"""Rate-distortion evaluation: nvc against x264, x265 and JPEG on the same frames.

    sources = [load_source("clip.y4m", max_frames=9), load_source("kodim01.png")]
    codecs = [NvcCodec("synthetic:tiny:1", [10, 40]), X26xCodec("x264", [23, 33]), JpegCodec([3, 10])]
    report = evaluate(sources, codecs, intra_period=-1)
    json.dumps(report.to_dict())

``run_evaluation`` does the same from paths and ``build_codecs``' codecs, as ``nvc eval`` and the
benchmark scripts run it; ``plot_rd`` (needs matplotlib) draws the curves.
"""

from nvcodec.eval.codecs import Codec, CodedSequence, JpegCodec, NvcCodec, X26xCodec
from nvcodec.eval.run import CODEC_NAMES, build_codecs, report_json, run_evaluation
from nvcodec.eval.runner import (
    ANCHORS,
    PointResult,
    Progress,
    Report,
    SourceResult,
    evaluate,
    hardware_info,
    p_to_i_bit_ratio,
    psnr_monotonic,
)
from nvcodec.eval.sources import Source, load_source

__all__ = [
    "ANCHORS",
    "CODEC_NAMES",
    "Codec",
    "CodedSequence",
    "JpegCodec",
    "NvcCodec",
    "PointResult",
    "Progress",
    "Report",
    "Source",
    "SourceResult",
    "X26xCodec",
    "build_codecs",
    "evaluate",
    "hardware_info",
    "p_to_i_bit_ratio",
    "psnr_monotonic",
    "load_source",
    "report_json",
    "run_evaluation",
]
