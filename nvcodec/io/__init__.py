"""Media in and out through PyAV: frames to planes on the way in, planes to files on the way out."""

from nvcodec.io.sink import OutputOptions, VideoSink, open_sink
from nvcodec.io.source import InputOptions, SourceInfo, VideoItem, VideoSource, open_source

__all__ = [
    "InputOptions",
    "OutputOptions",
    "SourceInfo",
    "VideoItem",
    "VideoSink",
    "VideoSource",
    "open_sink",
    "open_source",
]
