"""Chunked encoding and decoding on Ray against one process, and what a chunk costs: the figures behind
docs/SCALEOUT.md.

Two parts, one run, one JSON document:

- ``feed``: the price of getting one chunk's frames to its task, both ways ``nvc encode --feed`` offers,
  at the clip's size and at 1080p (the clip scaled up): the driver decoding them and putting them in
  Ray's object store (and a task getting them back), against a task seeking in the input and decoding
  them itself; with the bytes each chunk moves through the object store.  No neural coding: seconds.
- ``runs``: whole encodes and decodes of ``--frames`` frames with the shipped model, the baseline (one
  process, the pinned profile's 2 threads) and ``--workers`` Ray workers (each a 1-core share, the
  pinned profile keeping its 2 threads, so the bytes stay the same) in the same run on the same
  machine; every chunked output is checked byte for byte against the baseline's.  Ray's start is
  timed apart, since a long job pays it once.

    python bench/bench_scaleout.py [--clip ../shared/data/video/compressed/sam2_02_cups_1280x720.mp4]
                                   [--frames 120] [--intra-period 30] [--workers 2] [--feed-only]
                                   [--out bench/results/scaleout.json]

The default clip is from the training split (docs/DATA_SPLIT.md): a speed measurement tunes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

from nvcodec import numerics

numerics.prepare_environment()  # before torch: the pinned profile, as the nvc command sets it

CLIP = "../shared/data/video/compressed/sam2_02_cups_1280x720.mp4"


def _items(source):
    from nvcodec.io import VideoItem

    return (item for item in source.items() if isinstance(item, VideoItem))


def _touch(chunk: list) -> int:
    """A task that gets a chunk's frames (zero-copy from the object store on the same machine) and reads them."""
    return sum(int(f.planes.y.sum(dtype="uint64") % 7) for f in chunk)


def feed_costs(clip: str, first: int, count: int, scale: tuple[int, int] | None, ray) -> dict:
    """One chunk's frames to a task, both ways: seconds and bytes."""
    from nvcodec.io import InputOptions, VideoSource
    from nvcodec.scaleout.chunks import Chunk, ChunkSource, read_chunk

    opts = InputOptions(audio=False, scale=scale)
    with VideoSource(clip, opts) as source:
        items = _items(source)
        for _ in range(first):
            next(items)
        t0 = time.perf_counter()
        frames = [next(items) for _ in range(count)]
        decode_s = time.perf_counter() - t0
        width, height = source.info.width, source.info.height
    with ChunkSource(clip, opts, convert=False) as source:  # the input feed's driver: timestamps only
        t0 = time.perf_counter()
        stamps = [item.pts for _, item in zip(range(first + count), _items(source), strict=False)]
        timing_s = (time.perf_counter() - t0) * count / len(stamps)
    raw = sum(f.planes.y.nbytes + f.planes.u.nbytes + f.planes.v.nbytes for f in frames)
    pickled = len(pickle.dumps(frames, protocol=5))
    t0 = time.perf_counter()
    ref = ray.put(frames)
    put_s = time.perf_counter() - t0
    touch = ray.remote(num_cpus=1)(_touch)
    ray.get(touch.remote([]))  # a worker started and warm before timing
    t0 = time.perf_counter()
    ray.get(touch.remote(ref))
    task_get_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = list(read_chunk(clip, opts, Chunk(1, first, count, stamps[first])))
    read_s = time.perf_counter() - t0
    assert [f.pts for f in got] == [f.pts for f in frames]
    return {
        "size": f"{width}x{height}", "frames": count, "object_store_bytes": pickled, "raw_plane_bytes": raw,
        "driver": {"decode_convert_s": round(decode_s, 3), "put_s": round(put_s, 3),
                   "task_roundtrip_s": round(task_get_s, 3)},
        "input": {"driver_timestamps_s": round(timing_s, 3), "task_seek_decode_convert_s": round(read_s, 3)},
    }


def baseline_encode(clip: str, frames: int, settings, model) -> tuple[float, bytes]:
    from nvcodec import transcode
    from nvcodec.io import InputOptions, open_source

    out = io.BytesIO()
    t0 = time.perf_counter()
    with open_source(clip, InputOptions(frames=frames)) as source:
        for _ in transcode.encode(source, out, model, settings, "cpu"):
            pass
    return time.perf_counter() - t0, out.getvalue()


def chunked_encode(executor, clip: str, frames: int, settings, model, feed: str) -> dict:
    from nvcodec.io import InputOptions
    from nvcodec.scaleout import ChunkedEncode, EncodeJob
    from nvcodec.scaleout.drivers import open_input

    opts = InputOptions(frames=frames)
    out = io.BytesIO()
    t0, cpu0 = time.perf_counter(), time.process_time()
    with open_input(clip, opts, feed) as source:
        job = ChunkedEncode(executor, EncodeJob(None, model.sha256, settings, "cpu", threads=executor.threads),
                            source, opts, out, feed, tempfile.gettempdir(), path=clip)
        for _ in job.run():
            pass
    return {"seconds": time.perf_counter() - t0, "driver_cpu_s": time.process_time() - cpu0, "data": out.getvalue(),
            "chunks": job.chunks, "chunk_seconds": [round(s, 2) for s in job.chunk_seconds]}


def decode_to(path: Path, coded: bytes, model, executor=None) -> tuple[float, float, str]:
    """Seconds (wall, driver CPU) decoding ``coded`` into a y4m at ``path``, and the y4m's sha256."""
    from nvcodec import transcode
    from nvcodec.container import NvcReader
    from nvcodec.io import open_sink
    from nvcodec.scaleout import ChunkedPictures, DecodeJob

    source = path.with_suffix(".nvc")
    source.write_bytes(coded)
    t0, cpu0 = time.perf_counter(), time.process_time()
    with open(source, "rb") as f:
        reader = NvcReader(f)
        sink = open_sink(str(path), transcode.description(reader.header, reader))
        pictures = None
        if executor is not None:
            pictures = ChunkedPictures(executor, DecodeJob(None, reader.header, "cpu", executor.threads), str(source))
        for _ in transcode.decode(reader, model, sink, "cpu", pictures=pictures):
            pass
        if pictures is not None:
            pictures.close()
        sink.close()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.unlink()
    return seconds, cpu, digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=CLIP)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--intra-period", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--qp", type=int, default=32)
    parser.add_argument("--feed-only", action="store_true", help="only the feed costs (no neural coding)")
    parser.add_argument("--out", default="bench/results/scaleout.json")
    args = parser.parse_args(argv)

    import logging
    import os

    import ray

    from nvcodec.scaleout import RayExecutor
    from nvcodec.settings import CodingSettings

    result: dict = {"clip": args.clip, "frames": args.frames, "intra_period": args.intra_period,
                    "workers": args.workers, "cpus": os.cpu_count(), "ray": ray.__version__}
    t0 = time.perf_counter()
    executor = RayExecutor(args.workers, numerics.DEFAULT_PROFILE)
    executor.__enter__()
    result["ray_start_s"] = round(time.perf_counter() - t0, 2)
    logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        n = args.intra_period
        result["feed"] = [feed_costs(args.clip, n, n, None, ray), feed_costs(args.clip, n, n, (1920, 1080), ray)]
        print(json.dumps(result["feed"], indent=1), flush=True)
        if not args.feed_only:
            from nvcodec.models.registry import resolve_model

            model = resolve_model(None)
            t0 = time.perf_counter()
            resolve_model(None)
            result["model_load_s"] = round(time.perf_counter() - t0, 3)
            settings = CodingSettings(qp_i=args.qp, intra_period=n)
            base_s, base = baseline_encode(args.clip, args.frames, settings, model)
            runs = {"encode_one_process_s": round(base_s, 1)}
            print(f"baseline encode {base_s:.1f} s", flush=True)
            for feed in ("driver", "input"):
                run = chunked_encode(executor, args.clip, args.frames, settings, model, feed)
                assert run["data"] == base, f"chunked encode (feed {feed}) differs from the one-process encode"
                runs[f"encode_w{args.workers}_{feed}_s"] = round(run["seconds"], 1)
                runs[f"encode_w{args.workers}_{feed}_driver_cpu_s"] = round(run["driver_cpu_s"], 1)
                runs[f"encode_w{args.workers}_{feed}_chunk_s"] = run["chunk_seconds"]
                print(f"W={args.workers} encode ({feed}) {run['seconds']:.1f} s, chunks {run['chunk_seconds']}",
                      flush=True)
            runs["chunks"] = run["chunks"]
            runs["identical"] = True
            with tempfile.TemporaryDirectory() as tmp:
                d1, d1_cpu, h1 = decode_to(Path(tmp) / "one.y4m", base, model)
                print(f"baseline decode {d1:.1f} s", flush=True)
                d2, d2_cpu, h2 = decode_to(Path(tmp) / "w.y4m", base, model, executor)
            assert h1 == h2, "chunked decode differs from the one-process decode"
            runs.update({"decode_one_process_s": round(d1, 1), f"decode_w{args.workers}_s": round(d2, 1),
                         f"decode_w{args.workers}_driver_cpu_s": round(d2_cpu, 1), "decode_identical": True})
            runs["encode_speedup"] = round(base_s / runs[f"encode_w{args.workers}_driver_s"], 2)
            runs["decode_speedup"] = round(d1 / d2, 2)
            result["runs"] = runs
            print(json.dumps(runs, indent=1), flush=True)
    finally:
        executor.__exit__(None, None, None)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
