"""Evaluation on tiny generated clips: sources, each codec's contract, the runner's report."""

import json
import struct
import zlib

import numpy as np
import pytest

from nvcodec.codec.frames import Planes, chroma_size
from nvcodec.errors import InputError
from nvcodec.eval import (
    JpegCodec,
    NvcCodec,
    PointResult,
    X26xCodec,
    evaluate,
    load_source,
    p_to_i_bit_ratio,
    psnr_monotonic,
)
from nvcodec.eval.runner import FrameResult
from nvcodec.eval.sources import Source
from nvcodec.metrics import frame_quality


def clip(width=64, height=48, count=3, seed=0):
    """Smooth moving pattern plus a little noise: codable, and its quality rises with rate."""
    rng = np.random.default_rng(seed)
    ch, cw = chroma_size(height, width)
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = np.mgrid[0:ch, 0:cw]
    frames = []
    for t in range(count):
        y = 128 + 70 * np.sin((xx + 3 * t) / 7.0) * np.cos(yy / 9.0) + rng.normal(0, 3, (height, width))
        u = 128 + 40 * np.sin((cx + t) / 5.0)
        v = 120 + 30 * np.cos(cy / 4.0)
        frames.append(Planes(*(np.clip(p, 0, 255).astype(np.uint8) for p in (y, u, v))))
    return frames


def write_y4m(path, frames, fps=12):
    h, w = frames[0].height, frames[0].width
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for f in frames:
            out.write(b"FRAME\n" + f.y.tobytes() + f.u.tobytes() + f.v.tobytes())


def write_gray_png(path, plane):
    """A minimal 8-bit grayscale PNG (no dependency beyond zlib)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w = plane.shape
    raw = b"".join(b"\x00" + plane[r].tobytes() for r in range(h))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    path.write_bytes(png + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_y4m_source_reads_frames_exactly_and_its_rate(tmp_path):
    frames = clip(count=4)
    write_y4m(tmp_path / "c.y4m", frames)
    source = load_source(tmp_path / "c.y4m", max_frames=3)
    assert (source.kind, source.fps, len(source.frames), source.width, source.height) == ("video", 12.0, 3, 64, 48)
    for a, b in zip(frames, source.frames, strict=False):
        assert np.array_equal(a.y, b.y) and np.array_equal(a.u, b.u) and np.array_equal(a.v, b.v)


def test_png_folder_is_a_video_and_a_png_file_a_still(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        write_gray_png(folder / f"{i:03d}.png", np.full((17, 33), 40 * i, np.uint8))
    video = load_source(folder)
    assert video.kind == "video" and len(video.frames) == 3
    assert (video.width, video.height) == (33, 17) and video.frames[0].u.shape == (9, 17)
    still = load_source(folder / "001.png")
    assert still.kind == "image" and len(still.frames) == 1 and still.name == "001"


def test_unreadable_sources_are_input_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.mkv").write_bytes(b"not a video")
    for path in (tmp_path / "empty", tmp_path / "junk.mkv", tmp_path / "missing.y4m"):
        with pytest.raises(InputError):
            load_source(path)


def test_x264_codes_one_packet_per_frame_with_the_asked_intra_period():
    frames = clip(count=5)
    coded = X26xCodec("x264", [23]).code(frames, 23, intra_period=2, fps=25.0)
    assert coded.frame_types == ["I", "P", "I", "P", "I"]
    assert all(b > 0 for b in coded.frame_bits) and len(coded.decoded) == 5
    single = X26xCodec("x264", [23]).code(frames, 23, intra_period=-1, fps=25.0)
    assert single.frame_types == ["I", "P", "P", "P", "P"]


def test_x264_rate_and_quality_move_with_crf_and_odd_sizes_survive():
    frames = clip(width=33, height=17, count=2)
    codec = X26xCodec("x264", [18, 40])
    fine, coarse = (codec.code(frames, crf, -1, 25.0) for crf in (18, 40))
    assert sum(fine.frame_bits) > sum(coarse.frame_bits)
    assert frame_quality(frames[0], fine.decoded[0]).yuv > frame_quality(frames[0], coarse.decoded[0]).yuv
    assert fine.decoded[0].y.shape == (17, 33) and fine.decoded[0].u.shape == (9, 17)


def test_jpeg_quantiser_scale_sets_the_rate():
    frames = clip(count=1)
    codec = JpegCodec([2, 31])
    fine, coarse = (codec.code(frames, q, -1, 25.0) for q in (2, 31))
    assert fine.frame_types == ["I"] and sum(fine.frame_bits) > sum(coarse.frame_bits)
    assert frame_quality(frames[0], fine.decoded[0]).yuv > frame_quality(frames[0], coarse.decoded[0]).yuv + 3
    with pytest.raises(ValueError):
        JpegCodec([1])


def test_nvc_bits_are_the_stream_and_decoding_follows_the_structure():
    frames = clip(count=3)
    codec = NvcCodec("synthetic:tiny:1", [40], device="cpu")
    coded = codec.code(frames, 40, intra_period=-1, fps=25.0)
    assert coded.frame_types == ["I", "P", "P"]
    assert all(b > 0 and b % 8 == 0 for b in coded.frame_bits)
    assert [f.y.shape for f in coded.decoded] == [(48, 64)] * 3
    assert codec.describe()["config"] == "tiny"


@pytest.fixture(scope="module")
def report():
    video = Source("clip", "clip.y4m", "video", tuple(clip(count=3)), 25.0)
    still = Source("still", "still.png", "image", tuple(clip(count=1, seed=1)), 30.0)
    codecs = [NvcCodec("synthetic:tiny:1", [20, 50], device="cpu"), X26xCodec("x264", [20, 30, 40]),
              JpegCodec([3, 15])]
    events = []
    result = evaluate([video, still], codecs, intra_period=-1, progress=events.append)
    result.events = events
    return result


def test_runner_covers_every_point_and_skips_jpeg_on_video(report):
    video, still = report.sources
    assert sorted({p.codec for p in video.points}) == ["nvc", "x264"]
    assert len(video.points) == 5 and len(still.points) == 7
    assert [e.done for e in report.events] == list(range(12)) and report.events[0].total == 12


def test_point_results_are_consistent(report):
    for point in report.sources[0].points:
        assert point.bits == sum(f.bits for f in point.frames)
        assert point.bpp == pytest.approx(point.bits / (64 * 48 * 3))
        assert point.kbps == pytest.approx(point.bits * 25.0 / 3 / 1000)
        assert point.psnr_yuv == pytest.approx((6 * point.psnr_y + point.psnr_u + point.psnr_v) / 8)
        assert point.psnr_yuv == pytest.approx(np.mean([f.psnr_yuv for f in point.frames]))
        assert point.encode_fps > 0 and point.decode_fps > 0
        assert [f.type for f in point.frames] == ["I", "P", "P"]


def test_bd_rates_against_anchors_and_a_valid_json_document(report):
    still = report.sources[1]
    assert set(still.bd_rate["x264"]) == {"jpeg"} and set(still.bd_rate["jpeg"]) == {"x264"}
    assert still.bd_rate["x264"]["jpeg"].percent is not None
    assert set(still.bd_rate["nvc"]) == {"x264", "jpeg"}
    doc = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert doc["schema"] == "nvc-eval-1" and doc["hardware"]["logical_cpus"] >= 1
    assert set(doc["summary"]) == {"video", "image"}
    assert doc["summary"]["image"]["bd_rate"]["x264"]["jpeg"]["defined"] == 1
    assert doc["sources"][0]["points"][0]["by_type"]["I"]["count"] == 1
    assert set(doc["summary"]["video"]["p_to_i_bits"]) == {"nvc", "x264"}
    assert doc["summary"]["image"]["psnr_monotonic_in_parameter"]["jpeg"]["sources"] == 1
    assert doc["codecs"]["nvc"]["model"] and doc["settings"]["rate_points"]["jpeg"]["values"] == [3, 15]


def test_rd_plot_is_a_png(report, tmp_path):
    pytest.importorskip("matplotlib")
    from nvcodec.eval.plot import plot_rd

    plot_rd(report, tmp_path / "rd.png")
    assert (tmp_path / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_duplicate_codec_names_are_refused():
    with pytest.raises(ValueError):
        evaluate([], [X26xCodec("x264", [20]), X26xCodec("x264", [30])])


def _bench_rd():
    """bench/bench_rd.py as a module (bench/ is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "bench_rd.py"
    spec = importlib.util.spec_from_file_location("bench_rd", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_evaluation_set_is_disjoint_from_training():
    bench = _bench_rd()
    eval_set = bench.load_eval_set()
    assert eval_set["videos"] and eval_set["images"]
    assert bench.overlaps(eval_set["videos"] + eval_set["images"], bench.training_paths(), bench.held_out()) == []
    # the clips held out of a training folder count as inside it when not held out
    assert bench.overlaps(list(bench.held_out()), bench.training_paths()) != []
    assert bench.overlaps(["video/compressed/x.mp4"], ["video/compressed"]) != []


def _point(value: int, frames: list[tuple[str, int, float]]) -> PointResult:
    bits = sum(b for _, b, _ in frames)
    psnr = float(np.mean([q for _, _, q in frames]))
    return PointResult("c", "qp", value, bits, 0.0, 0.0, 0.0, 0.0, 0.0, psnr, None, None,
                       [FrameResult(t, b, q) for t, b, q in frames])


def test_p_to_i_ratio_reads_the_i_curve_at_the_p_frames_psnr():
    # I curve: 1000 bits at 30 dB, 4000 bits at 34 dB (log-linear: 2000 bits at 32 dB).
    low = _point(0, [("I", 1000, 30.0), ("P", 500, 32.0), ("P", 500, 32.0)])
    high = _point(1, [("I", 4000, 34.0), ("P", 300, 29.0)])  # P below the I curve's range: left out
    ratios = p_to_i_bit_ratio([low, high])
    assert ratios == pytest.approx([0.25])
    assert p_to_i_bit_ratio([low]) == []  # one I point is no curve


def test_psnr_monotonic_in_either_direction_of_the_parameter():
    up = [_point(v, [("I", 100, q)]) for v, q in ((0, 20.0), (12, 22.0), (24, 25.0))]
    assert psnr_monotonic(up) and psnr_monotonic(list(reversed(up)))
    down = [_point(v, [("I", 100, q)]) for v, q in ((17, 40.0), (22, 37.0), (27, 34.0))]
    assert psnr_monotonic(down)
    bump = [_point(v, [("I", 100, q)]) for v, q in ((0, 20.0), (12, 19.0), (24, 25.0))]
    assert not psnr_monotonic(bump)


def test_the_development_set_is_training_data_and_never_evaluation_data():
    """bench/bench_dev.py judges candidate weights on these clips, so that no choice looks at the
    evaluation set: each must lie inside a training source and outside every evaluation source."""
    from pathlib import Path

    bench = _bench_rd()
    dev = json.loads((Path(bench.__file__).parent / "dev_set.json").read_text())
    evaluation = bench.load_eval_set()
    assert dev["videos"] and dev["images"]
    assert bench.overlaps(dev["videos"] + dev["images"], evaluation["videos"] + evaluation["images"]) == []
    assert all(bench.overlaps([source], bench.training_paths()) for source in dev["videos"] + dev["images"])
    # and nothing is tuned on classic codec test material either
    from nvcodec.training.split import HELD_OUT, TEST_MATERIAL

    assert not set(dev["videos"]) & set(TEST_MATERIAL + HELD_OUT)


def test_a_run_from_paths_reads_each_source_once_and_records_its_frame_limit(tmp_path):
    from nvcodec.eval import build_codecs, report_json, run_evaluation

    write_y4m(tmp_path / "clip.y4m", clip(count=3))
    write_gray_png(tmp_path / "still.png", clip(count=1, seed=2)[0].y)
    read = []
    codecs = build_codecs(("x264", "jpeg"), crfs=(25, 40), jpeg_q=(3, 20))
    report = run_evaluation([tmp_path / "clip.y4m", tmp_path / "still.png"], codecs, max_frames=2,
                            on_read=read.append)
    assert [s.name for s in read] == ["clip", "still"]
    assert [s.frames for s in report.sources] == [2, 1] and report.settings["max_frames"] == 2
    assert json.loads(report_json(report))["settings"]["rate_points"]["jpeg"]["values"] == [3, 20]


def test_a_run_no_codec_can_code_is_refused_before_coding(tmp_path):
    from nvcodec.eval import build_codecs, run_evaluation

    write_y4m(tmp_path / "clip.y4m", clip(count=2))
    with pytest.raises(InputError, match="nothing to evaluate"):
        run_evaluation([tmp_path / "clip.y4m"], build_codecs(("jpeg",), jpeg_q=(3,)))


def test_codecs_by_name_label_several_models_and_resolve_them_at_once():
    from nvcodec.errors import ConfigError, ModelError
    from nvcodec.eval import build_codecs

    two = build_codecs(("nvc",), ("synthetic:tiny:1", "synthetic:tiny:2"), qps=(20,), device="cpu")
    assert [c.name for c in two] == ["nvc:synthetic:tiny:1", "nvc:synthetic:tiny:2"]
    assert build_codecs(("nvc",), ("synthetic:tiny:1",), qps=(20,))[0].name == "nvc"
    with pytest.raises(ModelError):
        build_codecs(("nvc",), ("no-such-model",), qps=(20,))
    with pytest.raises(ConfigError):
        build_codecs(("vp9",))
