"""One evaluation as ``nvc eval`` describes it: codecs by name, sources by path, a report.

The command line and the benchmark scripts (``bench/bench_rd.py``, ``bench/bench_dev.py``) ask for
the same runs, so they share this rather than the benchmarks driving the command: both then label
models, refuse impossible runs and record their settings alike.

Torch reads its kernel settings once, at import, and ``nvcodec.eval`` imports it: a caller that
codes with nvc calls ``nvcodec.numerics.prepare_environment()`` (the default profile, as ``nvc
eval`` runs under) before importing this package; without it the nvc codec refuses to code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from nvcodec.errors import ConfigError, InputError
from nvcodec.eval.codecs import Codec, JpegCodec, NvcCodec, X26xCodec
from nvcodec.eval.runner import Progress, Report, evaluate
from nvcodec.eval.sources import Source, load_source

#: the codecs a run can name, in the order ``nvc eval`` runs them by default
CODEC_NAMES = ("nvc", "x264", "x265", "jpeg")


def build_codecs(names: Sequence[str], models: Sequence[str] = (), qps: Sequence[int] = (),
                 crfs: Sequence[int] = (), jpeg_q: Sequence[int] = (), device: str = "auto",
                 numerics: str | None = None, intra_refine: int = 0, layer: bool | None = None) -> list[Codec]:
    """The codecs ``names`` asks for, each with its own rate points.

    ``nvc`` becomes one codec per model spec (none: the shipped default model), labelled
    ``nvc:<file name>`` when there are several, so that two models can be compared in one run.
    Models are resolved here: a bad spec fails before any source is read.
    """
    codecs: list[Codec] = []
    for name in names:
        if name == "nvc":
            specs: Sequence[str | None] = models or (None,)
            for spec in specs:
                label = "nvc" if len(specs) == 1 else f"nvc:{Path(spec).name if spec else 'default'}"
                codec = NvcCodec(spec, qps, device=device, numerics=numerics, name=label, intra_refine=intra_refine,
                                 layer=layer)
                codec.model  # noqa: B018 -- resolves the model now
                codecs.append(codec)
        elif name in ("x264", "x265"):
            codecs.append(X26xCodec(name, crfs))
        elif name == "jpeg":
            codecs.append(JpegCodec(jpeg_q))
        else:
            raise ConfigError("codec", name, ", ".join(CODEC_NAMES))
    return codecs


def run_evaluation(paths: Sequence[str | os.PathLike[str]], codecs: Sequence[Codec],
                   max_frames: int | None = None, intra_period: int = -1,
                   progress: Callable[[Progress], None] | None = None,
                   on_read: Callable[[Source], None] | None = None) -> Report:
    """Read every source (at most ``max_frames`` frames of each video), code it with every codec, report.

    ``on_read`` hears of each source once it is read (reading a long clip takes a while);
    ``progress`` of each rate point before it is coded.  A run in which no codec can code any
    source (JPEG alone, on videos only) is refused before any coding starts.
    """
    sources = []
    for path in paths:
        sources.append(load_source(path, max_frames))
        if on_read is not None:
            on_read(sources[-1])
    if not any(s.kind == "image" or not c.stills_only for s in sources for c in codecs):
        raise InputError("nothing to evaluate: JPEG codes still images only, and no source is one")
    report = evaluate(sources, codecs, intra_period=intra_period, progress=progress)
    report.settings["max_frames"] = max_frames
    return report


def report_json(report: Report) -> str:
    """The report as the JSON document ``nvc eval`` writes: strict JSON (a NaN is an error, not a token)."""
    return json.dumps(report.to_dict(), indent=1, allow_nan=False)
