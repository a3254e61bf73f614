"""Writing a .nvc file front to back, to a file or a pipe.

The writer never needs to seek: the frame count and the intra index go into
the index and trailer chunks at the end.  When the output happens to be
seekable, :meth:`NvcWriter.close` also patches the header's frame count (and
its CRC) so a reader of the header alone knows it.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from nvcodec.container import format as fmt
from nvcodec.container.format import AudioPacket, AudioTrack, Header, IndexEntry, Tag, Trailer, VideoPacket


class NvcWriter:
    """Writes the preamble and header at once, then packets, then index and trailer on :meth:`close`."""

    def __init__(self, out: BinaryIO, header: Header, audio: list[AudioTrack] | tuple[AudioTrack, ...] = ()) -> None:
        if header.audio_tracks != len(audio):
            raise ValueError(f"header announces {header.audio_tracks} audio tracks, {len(audio)} given")
        self._out = out
        self._pos = 0
        self._frames = 0
        self._index: list[IndexEntry] = []
        self._closed = False
        self.header = header
        self._write(fmt.SIGNATURE + bytes(fmt.VERSION))
        self._head_body = fmt.encode_header(header)
        self._head_at = self._pos
        self._chunk(Tag.HEAD, self._head_body)
        for track in audio:
            self._chunk(Tag.AUDS, fmt.encode_audio_track(track))

    @property
    def frames_written(self) -> int:
        return self._frames

    @property
    def bytes_written(self) -> int:
        return self._pos

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._pos += len(data)

    def _chunk(self, tag: Tag, body: bytes) -> int:
        at = self._pos
        self._write(fmt.chunk_bytes(tag, body))
        return at

    def write_video(self, pts: int, duration: int, intra: bool, units: bytes) -> None:
        """One coded frame (its DCVC-RT units), in display order; the first must be intra."""
        if self._frames == 0 and not intra:
            raise ValueError("the first frame of a .nvc file must be intra")
        packet = VideoPacket(self._frames, pts, max(0, duration), intra, units)
        at = self._chunk(Tag.VPKT, fmt.encode_video_packet(packet))
        if intra:
            self._index.append(IndexEntry(self._frames, pts, at))
        self._frames += 1

    def write_audio(self, packet: AudioPacket) -> None:
        if not 0 <= packet.track < self.header.audio_tracks:
            raise ValueError(f"audio track {packet.track} is not declared")
        self._chunk(Tag.APKT, fmt.encode_audio_packet(packet))

    def close(self) -> None:
        """Write the index and trailer (and patch the header's frame count where the output can seek)."""
        if self._closed:
            return
        self._closed = True
        index_at = self._chunk(Tag.INDX, fmt.encode_index(self._index))
        self._chunk(Tag.TEND, fmt.encode_trailer(Trailer(self._frames, index_at)))
        self._patch_frame_count()
        self._out.flush()

    def _patch_frame_count(self) -> None:
        try:
            if not self._out.seekable():
                return
            end = self._out.tell()
        except (OSError, AttributeError):
            return
        body = bytearray(self._head_body)
        at = fmt.frame_count_position(self._head_body)
        body[at : at + 4] = struct.pack(">I", self._frames)
        chunk = fmt.chunk_bytes(Tag.HEAD, bytes(body))
        self._out.seek(end - self._pos + self._head_at)
        self._out.write(chunk)
        self._out.seek(end)
