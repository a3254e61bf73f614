"""RD curves as a PNG: PSNR-YUV against bpp, one panel per video and one for all images.

matplotlib is an optional dependency (``pip install nvcodec[eval]``), imported
only here and only when a plot is asked for; the figure is drawn on an Agg
canvas directly, never through pyplot's global state.
"""

from __future__ import annotations

import math
import os

from nvcodec.eval.runner import Report


def plot_rd(report: Report, path: str | os.PathLike[str]) -> None:
    """Write the RD curves of ``report`` to ``path`` (PNG)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib (pip install nvcodec[eval])") from exc

    summary = report.summary()
    panels: list[tuple[str, dict[str, list[dict[str, float]]], dict[str, dict]]] = []
    for source in report.sources:
        if source.kind == "video":
            curves = {c: [{"bpp": p.bpp, "psnr_yuv": p.psnr_yuv} for p in source.curve(c)] for c in report.codecs}
            bd = {t: {a: v.percent for a, v in anchors.items()} for t, anchors in source.bd_rate.items()}
            panels.append((f"{source.name} ({source.width}x{source.height}, {source.frames} frames)", curves, bd))
    if "image" in summary:
        images = summary["image"]
        bd = {t: {a: v["mean_percent"] for a, v in anchors.items()} for t, anchors in images["bd_rate"].items()}
        panels.append((f"images: mean of {images['sources']}", images["mean_curves"], bd))
    if not panels:
        raise ValueError("nothing to plot: the report holds no results")

    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(5.5 * columns, 4.2 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    for index, (title, curves, bd) in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        for codec, points in curves.items():
            if not points:
                continue
            label = codec + _bd_label(bd.get(codec, {}))
            axes.plot([p["bpp"] for p in points], [p["psnr_yuv"] for p in points], "o-", markersize=3, label=label)
        axes.set_title(title, fontsize=9)
        axes.set_xlabel("bpp")
        axes.set_ylabel("PSNR-YUV 6:1:1 (dB)")
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=7)
    figure.savefig(path, dpi=110)


def _bd_label(anchors: dict[str, float | None]) -> str:
    parts = [f"{value:+.1f}% vs {anchor}" for anchor, value in anchors.items() if value is not None]
    return f" ({', '.join(parts)})" if parts else ""
