"""``nvc info FILE.nvc``: what a .nvc file holds, like ffprobe (text, ``--json``, ``--frames``)."""

from __future__ import annotations

import json
import os

import click
from nvcodec_cli import common

_MATRIX = {0: "rgb", 1: "bt709", 2: "unknown", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
           9: "bt2020nc", 10: "bt2020c"}
_RANGE = {0: "unknown", 1: "tv", 2: "pc"}
_PRIMARIES = {1: "bt709", 2: "unknown", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020",
              11: "smpte431", 12: "smpte432"}
_TRANSFER = {1: "bt709", 2: "unknown", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 8: "linear",
             13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}


def _name(table: dict[int, str], value: int) -> str:
    return table.get(value, str(value))


@click.command()
@click.argument("input_path", metavar="INPUT")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout, for scripts.")
@click.option("--frames", "per_frame", is_flag=True, help="Also list every frame (type, qp, pts, size).")
@common.loglevel_option
@click.pass_obj
def info(obj, input_path: str, as_json: bool, per_frame: bool) -> None:
    """Describe a .nvc file (or - for stdin): model, numerics, size, colour, timing, settings, audio, index."""
    from nvcodec.container import AudioPacket, NvcReader

    common.setup_logging(obj.loglevel)
    with common.open_nvc_input(input_path) as source:
        reader = NvcReader(source)
        h = reader.header
        frames = []
        audio_packets = [0] * len(reader.audio)
        audio_bytes = [0] * len(reader.audio)
        for packet in reader.packets():
            if isinstance(packet, AudioPacket):
                audio_packets[packet.track] += 1
                audio_bytes[packet.track] += len(packet.data)
            else:
                frames.append(packet)
    size = os.path.getsize(input_path) if input_path != "-" else None
    video_bytes = sum(len(p.units) for p in frames)
    seconds = len(frames) / float(h.frame_rate)
    s = h.settings
    doc = {
        "file": input_path,
        "format_version": f"{reader.version[0]}.{reader.version[1]}",
        "size": size,
        "model": {"name": h.model_name, "config": h.model_config, "sha256": h.model_sha256},
        "numerics": h.numerics,
        "video": {
            "width": h.width, "height": h.height, "chroma": "4:4:4" if h.chroma == "444" else "4:2:0",
            "rgb_source": h.chroma == "444", "source_pix_fmt": h.source_pix_fmt,
            "frame_rate": str(h.frame_rate), "time_base": str(h.time_base),
            "frames": len(frames), "frame_count_in_header": h.frame_count,
            "duration": seconds, "bytes": video_bytes,
            "kbit_per_s": video_bytes * 8 / 1000 / seconds if seconds else 0.0,
            "color": {"matrix": _name(_MATRIX, h.color.matrix), "range": _name(_RANGE, h.color.range),
                      "primaries": _name(_PRIMARIES, h.color.primaries),
                      "transfer": _name(_TRANSFER, h.color.transfer)},
        },
        "settings": {"qp": s.qp_i, "qp_p": s.base_qp_p, "intra_period": s.intra_period,
                     "reset_interval": s.reset_interval, "two_ec": "auto" if s.two_ec is None else s.two_ec,
                     "skip_threshold": s.skip_threshold, "block_skip": _sps_flag(frames, "block_skip"),
                     "motion": _sps_flag(frames, "motion"), "picture_layer": _sps_flag(frames, "layer")},
        "audio": [{"track": i, "codec": t.codec, "sample_rate": t.sample_rate, "channels": t.channels,
                   "time_base": str(t.time_base), "packets": audio_packets[i], "bytes": audio_bytes[i]}
                  for i, t in enumerate(reader.audio)],
        "intra_frames": [p.index for p in frames if p.intra],
        "complete": reader.trailer is not None,
        "truncated_at": reader.truncated_at,
    }
    if per_frame:
        doc["frames"] = [{"index": p.index, "type": "I" if p.intra else "P", "qp": _qp(p.units), "pts": p.pts,
                          "time": float(p.pts * h.time_base), "bytes": len(p.units)} for p in frames]
    if reader.truncated_at is not None:
        common.warn(f"{input_path}: file is cut off at byte {reader.truncated_at} ({len(frames)} complete frames)")
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    _print_text(doc)


def _sps_flag(frames, flag: str) -> bool:
    """Whether the stream's parameter sets turn on an nvc extension (block skip, motion, the picture
    layer; never in DCVC-RT streams)."""
    from nvcodec.bitstream import SpsUnit, read_units

    for packet in frames:
        try:
            if any(isinstance(u, SpsUnit) and getattr(u, flag) for u in read_units(packet.units)):
                return True
        except ValueError:
            return False
    return False


def _qp(units: bytes) -> int | None:
    from nvcodec.bitstream import FrameUnit, read_units

    try:
        return next((u.qp for u in read_units(units) if isinstance(u, FrameUnit)), None)
    except ValueError:
        return None


def _print_text(doc: dict) -> None:
    v, s, m = doc["video"], doc["settings"], doc["model"]
    c = v["color"]
    size = f", {common.human_bytes(doc['size'])}" if doc["size"] is not None else ""
    fps = eval_fraction(v["frame_rate"])
    rgb = " (RGB source, BT.709 full range)" if v["rgb_source"] else ""
    lines = [
        f"Input: {doc['file']} (.nvc {doc['format_version']}{size})",
        f"  Model:     {m['name']} ({m['config']}), sha256 {m['sha256']}",
        f"  Numerics:  {doc['numerics']}",
        f"  Video:     {v['width']}x{v['height']} {v['chroma']}{rgb}, {fps:.3f} fps, "
        f"time base {v['time_base']}, {v['frames']} frames, "
        f"{v['duration']:.2f} s, {v['kbit_per_s']:.1f} kbit/s",
        f"  Colour:    matrix {c['matrix']}, range {c['range']}, primaries {c['primaries']}, transfer {c['transfer']}"
        f" (source {v['source_pix_fmt'] or 'unknown'})",
        f"  Coding:    qp {s['qp']} (P {s['qp_p']}), intra period {s['intra_period']}, reset interval "
        f"{s['reset_interval']}, skip threshold {s['skip_threshold']}, two coders {s['two_ec']}, "
        f"block skip {'on' if s['block_skip'] else 'off'}, motion {'on' if s['motion'] else 'off'}, "
        f"picture layer {'on' if s['picture_layer'] else 'off'}",
    ]
    for a in doc["audio"]:
        lines.append(f"  Audio #{a['track']}:  {a['codec']}, {a['sample_rate']} Hz, {a['channels']} ch, "
                     f"{a['packets']} packets, {common.human_bytes(a['bytes'])}")
    lines.append(f"  Index:     {len(doc['intra_frames'])} intra frame(s): "
                 f"{', '.join(map(str, doc['intra_frames'][:16]))}{' ...' if len(doc['intra_frames']) > 16 else ''}")
    if not doc["complete"]:
        lines.append(f"  Truncated: at byte {doc['truncated_at']}")
    if "frames" in doc:
        lines.append(f"  {'frame':>7} {'type':>4} {'qp':>3} {'pts':>10} {'time':>10} {'bytes':>9}")
        for f in doc["frames"]:
            lines.append(f"  {f['index']:>7} {f['type']:>4} {f['qp']!s:>3} {f['pts']:>10} {f['time']:>10.3f} "
                         f"{f['bytes']:>9}")
    click.echo("\n".join(lines))


def eval_fraction(text: str) -> float:
    from fractions import Fraction

    return float(Fraction(text))
