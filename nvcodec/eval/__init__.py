"""Rate-distortion evaluation: nvc against x264, x265 and JPEG on the same frames.

    sources = [load_source("clip.y4m", max_frames=9), load_source("kodim01.png")]
    codecs = [NvcCodec("synthetic:tiny:1", [10, 40]), X26xCodec("x264", [23, 33]), JpegCodec([3, 10])]
    report = evaluate(sources, codecs, intra_period=-1)
    json.dumps(report.to_dict())

``nvc eval`` is the command-line front end; ``plot_rd`` (needs matplotlib) draws the curves.
"""

from nvcodec.eval.codecs import Codec, CodedSequence, JpegCodec, NvcCodec, X26xCodec
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
    "evaluate",
    "hardware_info",
    "p_to_i_bit_ratio",
    "psnr_monotonic",
    "load_source",
]
