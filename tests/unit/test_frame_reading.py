"""One door for reading frames: evaluation and training read their sources through ``nvcodec.io``.

Each used to open files with PyAV and read planes its own way beside the product's reader; a second
reader is a second place where a pixel format, an odd size or a colour matrix can be read wrongly.
The rule: among nvcodec's modules only ``nvcodec.io`` opens media, and only it and the baseline
codecs of ``nvcodec.eval.codecs`` (which encode and decode x264, x265 and JPEG) use PyAV at all.
"""

from __future__ import annotations

import ast
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from nvcodec.eval import load_source
from nvcodec.io.source import InputOptions, PictureReader, open_source
from nvcodec.training.data import load_image, load_sources, training_size
from tests.unit.test_eval import clip, write_gray_png, write_y4m

PACKAGE = Path(__file__).resolve().parents[2] / "nvcodec"
#: modules outside nvcodec/io that may import PyAV: the baseline codecs encode and decode with it
PYAV_ALLOWED = {"eval/codecs.py"}


def _imports_av(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import) and any(a.name == "av" or a.name.startswith("av.") for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "av":
            return True
    return False


def test_only_nvcodec_io_and_the_baseline_codecs_import_pyav():
    users = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if _imports_av(p)}
    assert users, "the scan found no PyAV user at all: it is looking in the wrong place"
    assert {u for u in users if not u.startswith("io/")} <= PYAV_ALLOWED
    assert "av.open" not in (PACKAGE / "eval" / "codecs.py").read_text()


def write_rgb_png(path: Path, rgb: np.ndarray) -> None:
    """A minimal 8-bit RGB PNG (colour type 2), written without PyAV."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[r].tobytes() for r in range(h))
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


@pytest.fixture
def media(tmp_path):
    write_y4m(tmp_path / "clip.y4m", clip(count=3))
    write_gray_png(tmp_path / "gray.png", clip(count=1)[0].y)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(2):
        write_gray_png(folder / f"{i:03d}.png", np.full((16, 32), 60 * i, np.uint8))
    write_rgb_png(tmp_path / "red.png", np.tile(np.array([255, 0, 0], np.uint8), (16, 16, 1)))
    return tmp_path


def test_evaluation_and_training_open_files_only_through_nvcodec_io(media, monkeypatch):
    import av

    callers = []
    real_open = av.open

    def recording_open(*args, **kwargs):
        callers.append(sys._getframe(1).f_globals["__name__"])
        return real_open(*args, **kwargs)

    monkeypatch.setattr(av, "open", recording_open)
    paths = [media / "clip.y4m", media / "gray.png", media / "frames", media / "red.png"]
    for path in paths:
        load_source(path, max_frames=2)
    load_sources(paths, max_frames=2)
    assert callers and set(callers) == {"nvcodec.io.source"}


# pure red's luma: BT.601 at the full range an RGB image carries (swscale's default as PyAV applies it),
# and BT.709 at limited range (the transcoder's choice)
RED_Y_BT601_FULL, RED_Y_BT709_LIMITED = 255 * 0.299, 16 + 219 * 0.2126


def test_rgb_stills_keep_their_full_range_bt601_conversion_in_evaluation_and_training(media):
    """Evaluation results and the shipped weights were made with swscale's default matrix for RGB;
    the transcoder's reader uses BT.709, so a change of reader would have moved every number."""
    evaluated = load_source(media / "red.png").frames[0]
    trained = load_image(media / "red.png", 960)
    assert abs(float(evaluated.y.mean()) - RED_Y_BT601_FULL) <= 1
    assert np.array_equal(trained.y[0], evaluated.y)
    with open_source(str(media / "red.png"), InputOptions(frames=1, audio=False)) as source:
        transcoded = next(iter(source.items())).planes
    assert abs(float(transcoded.y.mean()) - RED_Y_BT709_LIMITED) <= 1


def test_pictures_keep_odd_sizes_unless_asked_and_convert_only_when_needed(media):
    write_y4m(media / "odd.y4m", clip(width=33, height=17, count=2))
    with PictureReader(media / "odd.y4m") as reader:
        assert reader.rate == 12
        pictures = list(reader)
    first = pictures[0]
    assert (first.width, first.height, first.pix_fmt) == (33, 17, "yuv420p")
    planes = first.yuv420()
    assert planes.y.shape == (17, 33) and planes.u.shape == (9, 17)
    assert np.array_equal(planes.y, clip(width=33, height=17, count=2)[0].y)
    assert first.yuv420(32, 16, interpolation="AREA", keep=()).u.shape == (8, 16)


def test_training_sizes_are_even_and_wide_frames_halved():
    assert training_size(33, 17, 960) == (32, 16)
    assert training_size(1280, 720, 960) == (640, 360)
    assert training_size(960, 541, 960) == (960, 540)
