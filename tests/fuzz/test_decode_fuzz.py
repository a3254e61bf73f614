"""Hostile .nvc files through the whole decode: the CI slice of ``bench/fuzz_nvc.py``'s campaign.

The container tests flip bytes of whole files, which the CRCs catch at the chunk they hit; the
decoder behind them (header fields, DCVC-RT units, rANS payloads, the block-skip map, the frame
decoder) is reached only by mutations that recompute the CRCs and the index, which is what the
campaign's mutator does.  Here it runs a few hundred cases with a fixed seed, in-process: every
case must decode or be refused with an ``NvcError``, in bounded time.
"""

from __future__ import annotations

import importlib.util
import io
import struct
import sys
from collections import Counter
from pathlib import Path

import pytest

from nvcodec.container import IndexEntry, NvcReader
from nvcodec.errors import StreamError

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fuzz_nvc.py"
CASES = 300
SEED = 20261207
CASE_SECONDS = 5.0


@pytest.fixture(scope="module")
def fuzz():
    """bench/fuzz_nvc.py as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("fuzz_nvc", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_nvc", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def seeds(fuzz) -> dict[str, bytes]:
    return fuzz.make_seeds(fuzz.SMALL_SEEDS)


def test_the_seeds_come_back_byte_for_byte_through_the_mutators_parser(fuzz, seeds):
    # reindexing an untouched file must change nothing, or every case would carry a damage of its own
    for name, data in seeds.items():
        f = fuzz.parse_file(data)
        for chunk in f.chunks:
            if chunk.tag == b"VPKT":
                units = chunk.body[fuzz.VPKT_HEADER :]
                assert fuzz.join_units(fuzz.parse_units(units)) == units, name
        fuzz.reindex(f)
        assert fuzz.serialize(f) == data, name
    report = fuzz.seed_report(seeds).values()
    assert any(v.get("P with skip map") for v in report) and any(v.get("P with motion field") for v in report)


def test_mutated_files_decode_or_are_refused(fuzz, seeds):
    mutator = fuzz.Mutator(seeds, SEED)
    models = fuzz.ModelCache()
    bad, outcomes, messages = [], Counter(), Counter()
    with fuzz.fast_decoding():
        for i in range(CASES):
            case = mutator.case(i)
            out = fuzz.run_case(case.data, models, case.start, case.frames)
            outcomes[out.outcome] += 1
            messages[out.message.split(" (")[0][:40]] += 1
            if out.outcome == "finding" or out.seconds > CASE_SECONDS:
                bad.append((i, case.mutations, out.kind, out.message, out.where, round(out.seconds, 2)))
    assert not bad, bad
    # the mutations must reach past the container: whole decodes, and refusals from the rANS coder
    assert outcomes["ok"] >= CASES // 10, outcomes
    assert any(m.startswith("rANS payload") for m in messages), messages


# --- regressions: each was a finding of the campaign ---------------------------------------------------------


def _with_index_offset(fuzz, data: bytes, entry: int, offset: int) -> bytes:
    """``data`` with one intra index entry's offset replaced (every CRC still right)."""
    f = fuzz.parse_file(data)
    fuzz.reindex(f)
    index = next(c for c in f.chunks if c.tag == b"INDX")
    body = bytearray(index.body)
    struct.pack_into(">Q", body, 4 + 20 * entry + 12, offset)
    index.body, index.pinned = bytes(body), True
    return fuzz.serialize(f)


@pytest.mark.parametrize(("entry", "offset"), [(1, 1 << 63), (1, (1 << 64) - 1), (1, 1 << 62), (0, 3)])
def test_an_index_entry_outside_the_packets_is_refused_when_seeking(fuzz, seeds, entry, offset):
    # was OverflowError from BytesIO.seek in NvcReader.seek_to (nvc decode --ss on such a file)
    data = _with_index_offset(fuzz, seeds["tiny-ip2"], entry, offset)
    with pytest.raises(StreamError, match="index entry"):
        NvcReader(io.BytesIO(data)).read_index()
    with fuzz.fast_decoding():
        out = fuzz.run_case(data, fuzz.ModelCache(), start=0.05)
    assert (out.outcome, out.kind) == ("refused", "StreamError"), out


@pytest.mark.parametrize("offset", [-1, 1 << 63])
def test_seeking_to_an_impossible_offset_is_a_stream_error(fuzz, seeds, offset):
    reader = NvcReader(io.BytesIO(seeds["tiny-ip2"]))
    with pytest.raises(StreamError, match="seek"):
        reader.seek_to(IndexEntry(2, 0, offset))
