"""The DCVC-RT stream syntax: SPS and I/P frame units with adaptive uints."""

from nvcodec.bitstream.units import (
    FrameType,
    FrameUnit,
    SpsUnit,
    Unit,
    read_adaptive_uint,
    read_units,
    write_adaptive_uint,
)

__all__ = [
    "FrameType",
    "FrameUnit",
    "SpsUnit",
    "Unit",
    "read_adaptive_uint",
    "read_units",
    "write_adaptive_uint",
]
