"""Units of a DCVC-RT stream, named after the syntax they carry.

A stream is a plain concatenation of units (no header, no magic)::

    unit        := header_byte body
    header_byte := (unit_type << 4) | sps_id          unit_type: 0 SPS, 1 I frame, 2 P frame
    SPS body    := height:auint  width:auint  flags:u8
                   flags = (layer << 5) | (motion << 4) | (block_skip << 3) | (ec_part << 2) | use_ada_i
                   (block_skip, motion and layer are nvc's: P frames carry a skip map, see
                   nvcodec.codec.block_skip, and motion vectors, see nvcodec.codec.motion; every frame
                   may carry a picture layer, see nvcodec.codec.picture_layer)
    frame body  := qp:u8  payload_length:auint  payload
    auint       := 0xxxxxxx | 10xxxxxx x8 | 11xxxxxx x8 x8 x8     (big-endian, < 2^30)

Reading never trusts a length: every field is checked against the bytes that
remain, so a cut or corrupted stream raises :class:`TruncatedStreamError` or
:class:`StreamError` with the byte offset instead of reading garbage.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from nvcodec.errors import StreamError, TruncatedStreamError

AUINT_MAX = (1 << 30) - 1
MAX_SPS_ID = 15
#: frames larger than this are refused before any allocation (a 16K frame at qp 63 is far below it)
MAX_PAYLOAD_BYTES = AUINT_MAX


class FrameType(enum.IntEnum):
    SPS = 0
    I = 1  # noqa: E741 - the codec's own name for intra frames
    P = 2


def write_adaptive_uint(value: int) -> bytes:
    if value < 0 or value > AUINT_MAX:
        raise ValueError(f"adaptive uint out of range: {value} (0..{AUINT_MAX})")
    if value < 1 << 7:
        return bytes((value,))
    if value < 1 << 14:
        return bytes((0x80 | (value >> 8), value & 0xFF))
    return bytes((0xC0 | (value >> 24), (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF))


def read_adaptive_uint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Value and the position after it."""
    if pos >= len(data):
        raise TruncatedStreamError("stream ends inside an adaptive uint", pos)
    first = data[pos]
    size = 1 if first < 0x80 else 2 if first < 0xC0 else 4
    if pos + size > len(data):
        raise TruncatedStreamError("stream ends inside an adaptive uint", pos)
    if size == 1:
        return first, pos + 1
    if size == 2:
        return ((first & 0x3F) << 8) | data[pos + 1], pos + 2
    value = ((first & 0x3F) << 24) | (data[pos + 1] << 16) | (data[pos + 2] << 8) | data[pos + 3]
    return value, pos + 4


@dataclass(frozen=True)
class SpsUnit:
    """Sequence parameters a frame refers to: original size, coder split, reset flag."""

    sps_id: int
    height: int
    width: int
    ec_part: bool  # two rANS coders share the payload
    use_ada_i: bool  # P frame predicted from the previous frame's pixels (a reset)
    block_skip: bool = False  # nvc: P frames carry a block-skip map (never set in DCVC-RT streams)
    motion: bool = False  # nvc: P frames carry motion vectors (never set in DCVC-RT streams)
    layer: bool = False  # nvc: every frame may carry a picture layer (never set in DCVC-RT streams)

    def to_bytes(self) -> bytes:
        _check_id(self.sps_id)
        if self.height <= 0 or self.width <= 0:
            raise ValueError(f"SPS frame size must be positive, got {self.width}x{self.height}")
        flags = ((int(self.layer) << 5) | (int(self.motion) << 4) | (int(self.block_skip) << 3)
                 | (int(self.ec_part) << 2) | int(self.use_ada_i))
        return (
            bytes(((FrameType.SPS << 4) | self.sps_id,))
            + write_adaptive_uint(self.height)
            + write_adaptive_uint(self.width)
            + bytes((flags,))
        )


@dataclass(frozen=True)
class FrameUnit:
    """One coded frame: its type, the SPS it uses, its qp and its rANS payload."""

    frame_type: FrameType
    sps_id: int
    qp: int
    payload: bytes

    def to_bytes(self) -> bytes:
        _check_id(self.sps_id)
        if self.frame_type not in (FrameType.I, FrameType.P):
            raise ValueError(f"not a frame type: {self.frame_type!r}")
        if not 0 <= self.qp <= 255:
            raise ValueError(f"qp must fit in a byte, got {self.qp}")
        return (
            bytes(((int(self.frame_type) << 4) | self.sps_id, self.qp))
            + write_adaptive_uint(len(self.payload))
            + bytes(self.payload)
        )


Unit = SpsUnit | FrameUnit


def _check_id(sps_id: int) -> None:
    if not 0 <= sps_id <= MAX_SPS_ID:
        raise ValueError(f"sps_id must be 0..{MAX_SPS_ID}, got {sps_id}")


def read_unit(data: bytes | memoryview, pos: int) -> tuple[Unit, int]:
    """Parse the unit starting at ``pos``; return it and the position after it."""
    start = pos
    if pos >= len(data):
        raise TruncatedStreamError("stream ends before a unit header", pos)
    header = data[pos]
    kind, sps_id = header >> 4, header & 0x0F
    pos += 1
    if kind == FrameType.SPS:
        height, pos = read_adaptive_uint(data, pos)
        width, pos = read_adaptive_uint(data, pos)
        if pos >= len(data):
            raise TruncatedStreamError("stream ends inside an SPS", pos)
        flags = data[pos]
        if flags & ~0x3D:
            raise StreamError(f"SPS has reserved flag bits set (0x{flags:02x})", pos)
        if height == 0 or width == 0:
            raise StreamError(f"SPS has an empty frame size {width}x{height}", start)
        return SpsUnit(sps_id, height, width, bool(flags & 0x04), bool(flags & 0x01), bool(flags & 0x08),
                       bool(flags & 0x10), bool(flags & 0x20)), pos + 1
    if kind in (FrameType.I, FrameType.P):
        if pos >= len(data):
            raise TruncatedStreamError("stream ends inside a frame header", pos)
        qp = data[pos]
        length, pos = read_adaptive_uint(data, pos + 1)
        if length > len(data) - pos:
            raise TruncatedStreamError(
                f"frame payload of {length} bytes but only {len(data) - pos} remain", pos
            )
        payload = bytes(data[pos : pos + length])
        return FrameUnit(FrameType(kind), sps_id, qp, payload), pos + length
    raise StreamError(f"unknown unit type {kind}", start)


def read_units(data: bytes | memoryview) -> Iterator[Unit]:
    """All units of a stream, in order; raises on the first malformed one."""
    view = memoryview(data) if not isinstance(data, memoryview) else data
    pos = 0
    while pos < len(view):
        unit, pos = read_unit(view, pos)
        yield unit
