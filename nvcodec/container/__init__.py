"""The .nvc file: header, audio tracks, packets with CRC32, intra index, trailer (``docs/FORMAT.md``)."""

from nvcodec.container.format import (
    AudioPacket,
    AudioTrack,
    ColorInfo,
    Header,
    IndexEntry,
    Trailer,
    VideoPacket,
)
from nvcodec.container.reader import NvcReader
from nvcodec.container.writer import NvcWriter

__all__ = [
    "AudioPacket",
    "AudioTrack",
    "ColorInfo",
    "Header",
    "IndexEntry",
    "NvcReader",
    "NvcWriter",
    "Trailer",
    "VideoPacket",
]
