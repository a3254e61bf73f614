"""Scale-out: one input coded in chunks, or many inputs at once, on Ray, with the bytes of one process.

The way classical encoders scale (av1an's): split the input at its intra frames, code the pieces in
parallel, join them.  A chunk that starts at an intra frame depends on the frames before it only
through things known without coding them (:mod:`nvcodec.scaleout.chunks`), so the joined file is
byte-identical to ``nvc encode -g N`` in one process; decoding splits at the intra index the same way.

    from nvcodec.scaleout import ChunkedEncode, EncodeJob, RayExecutor

    with RayExecutor(workers=4, numerics="cpu-avx2-t2") as executor:
        job = ChunkedEncode(executor, EncodeJob(None, model.sha256, settings), "in.mp4", InputOptions(), out)
        for status in job.run():
            print(status.frames)

Ray is an optional extra (``pip install 'nvcodec[ray]'``) and is imported only by
:class:`~nvcodec.scaleout.cluster.RayExecutor`; nothing else in nvcodec imports it.  The plan for
machines beyond one is docs/SCALEOUT.md.
"""

from nvcodec.scaleout.chunks import Chunk, CodedChunk, DecodeJob, EncodeJob, chunk_length, chunks_between
from nvcodec.scaleout.cluster import EXTRA_HINT, InlineExecutor, RayExecutor, RayUnavailable, WorkerLost
from nvcodec.scaleout.drivers import (
    BatchItem,
    BatchResult,
    ChunkedEncode,
    ChunkedPictures,
    Joiner,
    Status,
    partial_name,
    run_batch,
)

__all__ = [
    "EXTRA_HINT",
    "BatchItem",
    "BatchResult",
    "Chunk",
    "ChunkedEncode",
    "ChunkedPictures",
    "CodedChunk",
    "DecodeJob",
    "EncodeJob",
    "InlineExecutor",
    "Joiner",
    "RayExecutor",
    "RayUnavailable",
    "Status",
    "WorkerLost",
    "chunk_length",
    "chunks_between",
    "partial_name",
    "run_batch",
]
