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


def is_held_out(path: str | Path, data_root: str | Path) -> bool:
    """Whether ``path`` (found under ``data_root``) is one of the held-out evaluation files."""
    try:
        relative = PurePosixPath(Path(path).resolve().relative_to(Path(data_root).resolve()).as_posix())
    except ValueError:
        return False
    return str(relative) in HELD_OUT
