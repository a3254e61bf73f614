"""Fuzzing the .nvc reader: any bytes give packets, a recorded cut, or StreamError; nothing else, quickly."""

import io
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvcodec.container import NvcReader
from nvcodec.errors import StreamError
from tests.unit.test_container import build

SEED = build(frames=4)


def read(data: bytes) -> None:
    start = time.perf_counter()
    try:
        reader = NvcReader(io.BytesIO(data))
        for _ in reader.packets():
            pass
        reader.read_index()
    except StreamError:
        pass
    assert time.perf_counter() - start < 1.0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), max_size=8),
       st.integers(0, len(SEED)))
def test_mutated_files(edits, cut):
    data = bytearray(SEED[:cut] if cut else SEED)
    for at, value in edits:
        if at < len(data):
            data[at] = value
    read(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_after_the_signature(tail):
    read(SEED[:10] + tail)
