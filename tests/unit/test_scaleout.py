"""Chunked coding without Ray: the drivers of nvcodec.scaleout run here on the in-process executor, so the
byte-identity of every chunk boundary is checked in every run, with or without the ray extra.

The Ray runs of the same drivers (workers, a killed task, the CLI) are tests/cli/test_scaleout_cli.py.
"""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

from nvcodec import transcode
from nvcodec.container import NvcReader
from nvcodec.io import InputOptions, open_sink, open_source
from nvcodec.scaleout import ChunkedEncode, ChunkedPictures, DecodeJob, EncodeJob, InlineExecutor, chunks_between
from nvcodec.scaleout.chunks import MIN_CHUNK_FRAMES, Chunk, chunk_length, read_chunk
from nvcodec.scaleout.drivers import open_input
from nvcodec.settings import CodingSettings
from tests.cli.media import make_clip

SPEC = "synthetic:tiny:1"
ROOT = Path(__file__).resolve().parents[2]
ALL = InputOptions()


@pytest.fixture(scope="module")
def model():
    from nvcodec.models.registry import resolve_model

    return resolve_model(SPEC)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    # 21 frames with AAC audio: three chunks at -g 8, the last one short, audio between all of them
    return make_clip(tmp_path_factory.mktemp("scaleout") / "clip.mp4", frames=21, width=48, height=32)


def one_process(clip: Path, model, settings: CodingSettings, opts: InputOptions = ALL) -> bytes:
    out = io.BytesIO()
    with open_source(str(clip), opts) as source:
        for _ in transcode.encode(source, out, model, settings, "cpu"):
            pass
    return out.getvalue()


def chunked(clip: Path, model, settings: CodingSettings, feed: str = "driver", opts: InputOptions = ALL,
            spool: Path | None = None) -> tuple[bytes, ChunkedEncode]:
    out = io.BytesIO()
    with InlineExecutor() as executor, open_input(str(clip), opts, feed) as source:
        job = ChunkedEncode(executor, EncodeJob(SPEC, model.sha256, settings, "cpu"), source, opts, out, feed,
                            str(spool) if spool else None, path=str(clip))
        statuses = list(job.run())
    assert statuses[-1].frames == job.frames
    return out.getvalue(), job


@pytest.mark.parametrize(("period", "reset", "block_skip", "motion"), [
    (8, 64, None, None),   # chunks of one intra period; the reset SPS (frame 1) inherited by the later chunks
    (4, 3, True, None),    # two periods a chunk (at least MIN_CHUNK_FRAMES), resets and block skip inside chunks
    (5, 2, False, None),   # a period that is no multiple of the qp pattern's 8 frames
    (1, 64, None, None),   # all intra
    (4, 3, True, True),    # motion: each chunk's first P frame searches without a previous field
])
def test_chunked_encode_is_byte_identical_to_one_process(clip, model, tmp_path, period, reset, block_skip, motion):
    settings = CodingSettings(qp_i=40, intra_period=period, reset_interval=reset, block_skip=block_skip,
                              motion=motion)
    expected = one_process(clip, model, settings)
    data, job = chunked(clip, model, settings, spool=tmp_path)
    assert data == expected
    assert job.chunks == -(-21 // chunk_length(period)) and job.frames == 21
    assert list(tmp_path.iterdir()) == []  # the pieces and their folder are gone


def test_chunks_code_the_picture_layer_as_one_process_does(clip, model, tmp_path):
    settings = CodingSettings(qp_i=40, intra_period=4, reset_interval=3, layer_step=6.0)
    expected = one_process(clip, model, settings)
    assert chunked(clip, model, settings, spool=tmp_path)[0] == expected
    assert expected != one_process(clip, model, CodingSettings(qp_i=40, intra_period=4, reset_interval=3))


def test_chunks_search_their_i_frames_as_one_process_does(clip, model, monkeypatch):
    from nvcodec.codec import latent_refine

    monkeypatch.setattr(latent_refine, "STEP", 0.1)  # the tiny model's random weights need a larger step
    settings = CodingSettings(qp_i=50, intra_period=8)
    out = io.BytesIO()
    with open_source(str(clip), ALL) as source:
        for _ in transcode.encode(source, out, model, settings, "cpu", intra_refine=4):
            pass
    job = EncodeJob(SPEC, model.sha256, settings, "cpu", intra_refine=4)
    chunked_out = io.BytesIO()
    with InlineExecutor() as executor, open_input(str(clip), ALL, "driver") as source:
        list(ChunkedEncode(executor, job, source, ALL, chunked_out, "driver", None, path=str(clip)).run())
    assert chunked_out.getvalue() == out.getvalue() != one_process(clip, model, settings)


def test_tasks_that_read_the_input_themselves_give_the_same_bytes(clip, model):
    settings = CodingSettings(qp_i=40, intra_period=8)
    opts = InputOptions(start=0.2, frames=17)  # a selection: --ss and --frames as the driver applies them
    assert chunked(clip, model, settings, "input", opts)[0] == one_process(clip, model, settings, opts)


def test_a_chunk_read_by_seeking_is_the_chunk_read_from_the_start(clip):
    opts = InputOptions(audio=False)
    with open_source(str(clip), opts) as source:
        frames = [item for item in source.items()]
    chunk = Chunk(1, 8, 8, frames[8].pts)
    seeking = list(read_chunk(str(clip), opts, chunk))
    reading = list(read_chunk(str(clip), opts, Chunk(1, 8, 8, None)))  # no timestamp: decoded from the start
    for got in (seeking, reading):
        assert [f.pts for f in got] == [f.pts for f in frames[8:16]]
        assert all((a.planes.y == b.planes.y).all() and (a.planes.v == b.planes.v).all()
                   for a, b in zip(got, frames[8:16], strict=True))


def test_psnr_of_a_chunked_encode_is_the_one_process_psnr(clip, model):
    settings = CodingSettings(qp_i=40, intra_period=8)
    measured = []
    with open_source(str(clip), InputOptions()) as source:
        for result in transcode.encode(source, io.BytesIO(), model, settings, "cpu", measure=True):
            measured.append(result.quality)
    out = io.BytesIO()
    with InlineExecutor() as executor, open_input(str(clip), InputOptions()) as source:
        job = ChunkedEncode(executor, EncodeJob(SPEC, model.sha256, settings, "cpu", measure=True), source,
                            InputOptions(), out)
        list(job.run())
    assert job.qualities == measured


def test_chunked_decode_gives_the_pictures_of_a_plain_decode(clip, model, tmp_path):
    settings = CodingSettings(qp_i=40, intra_period=4, reset_interval=3, block_skip=True)
    coded = tmp_path / "clip.nvc"
    coded.write_bytes(one_process(clip, model, settings))

    def decode(pictures: bool, name: str, start: float = 0.0) -> bytes:
        with open(coded, "rb") as f, InlineExecutor() as executor:
            reader = NvcReader(f)
            sink = open_sink(str(tmp_path / name), transcode.description(reader.header, reader))
            chunks = ChunkedPictures(executor, DecodeJob(SPEC, reader.header, "cpu"), str(coded)) if pictures else None
            selection = transcode.DecodeRange(start=start)
            for _ in transcode.decode(reader, model, sink, "cpu", selection, pictures=chunks):
                pass
            if chunks is not None:
                assert [c.count for c in chunks.chunks] == [8, 8, 5]
                chunks.close()
            sink.close()
        return (tmp_path / name).read_bytes()

    assert decode(True, "chunked.y4m") == decode(False, "plain.y4m")
    assert decode(True, "chunked-ss.y4m", 0.5) == decode(False, "plain-ss.y4m", 0.5)  # a seek into chunk 1


def test_chunk_plans():
    assert chunk_length(32) == 32 and chunk_length(3) == 9 and chunk_length(1) == MIN_CHUNK_FRAMES
    with pytest.raises(ValueError):
        chunk_length(-1)
    plan = chunks_between([0, 4, 8, 12, 40], 45)
    assert [(c.index, c.first, c.count) for c in plan] == [(0, 0, 8), (1, 8, 32), (2, 40, 5)]
    assert [(c.first, c.count) for c in chunks_between([0], 7)] == [(0, 7)]


def test_only_the_scaleout_package_imports_ray():
    """Ray is an optional extra: the rest of nvcodec and the command line must import without it."""
    offenders = []
    for path in sorted((ROOT / "nvcodec").rglob("*.py")) + sorted((ROOT / "cli").rglob("*.py")):
        if "scaleout" in path.parts and path.parent.name == "scaleout" and path.parent.parent.name == "nvcodec":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)} imports {n}" for n in names if n == "ray" or n.startswith("ray.")]
    assert offenders == []


class _RecordingRay:
    """Enough of the ``ray`` module to see what :class:`RayExecutor` asks of it when giving a job up."""

    def __init__(self, done: set[str]) -> None:
        self.done = done
        self.calls: list[tuple[str, ...]] = []

    def wait(self, refs, num_returns, timeout, fetch_local):
        assert timeout == 0  # giving up must not wait for anything
        return [r for r in refs if r in self.done], [r for r in refs if r not in self.done]

    def cancel(self, ref, force):
        self.calls.append(("cancel", ref))

    def shutdown(self):
        self.calls.append(("shutdown",))


def _executor(fake: _RecordingRay, owned: bool):
    from nvcodec.scaleout.cluster import Handle, RayExecutor

    executor = RayExecutor.__new__(RayExecutor)
    executor.ray, executor._owned, executor._tally_actor = fake, owned, None
    return executor, [Handle(key, ref=ref) for key, ref in enumerate(("a", "b", "c"))]


def test_giving_up_on_a_ray_of_nvcs_own_ends_it_and_cancels_no_task():
    """Cancelling a task that finishes at that moment can abort the driver inside Ray: nvc's own Ray is
    ended instead, which stops every task of the job."""
    fake = _RecordingRay(done={"a"})
    executor, handles = _executor(fake, owned=True)
    executor.cancel(handles)
    assert fake.calls == [("shutdown",)]
    executor.__exit__(None, None, None)  # the way out afterwards has nothing left to do
    assert fake.calls == [("shutdown",)]


def test_giving_up_on_a_ray_started_elsewhere_cancels_only_the_unfinished_tasks():
    fake = _RecordingRay(done={"a", "c"})
    executor, handles = _executor(fake, owned=False)
    executor.cancel(handles)
    assert fake.calls == [("cancel", "b")]
    executor.cancel([])
    assert fake.calls == [("cancel", "b")]
