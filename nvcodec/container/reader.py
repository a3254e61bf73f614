"""Reading a .nvc file from a file or a pipe, trusting none of its lengths.

Reading is sequential and needs no seeking; a seekable file additionally
offers the intra index (found through the fixed-size trailer) for seeking.

A file that ends early is not an error: :meth:`NvcReader.packets` yields every
complete packet before the cut and records where the cut is
(:attr:`NvcReader.truncated_at`), so a decoder can show what survived and warn.
Damage is an error: a bad CRC, an unknown critical chunk, a length above its
limit, or a length that runs past the end of a file that does end in a valid
trailer (a flipped length byte rather than a cut) raises :class:`StreamError`
with the byte offset.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from nvcodec.container import format as fmt
from nvcodec.container.format import (
    AudioPacket,
    AudioTrack,
    Header,
    IndexEntry,
    Tag,
    Trailer,
    VideoPacket,
)
from nvcodec.errors import StreamError, TruncatedStreamError

_READ_PIECE = 1 << 20
_TAGS = {t.value: t for t in Tag}


class _Cut(Exception):
    """The data ended inside a chunk (or before the trailer)."""

    def __init__(self, offset: int, tail: bytes) -> None:
        self.offset = offset
        self.tail = tail


class NvcReader:
    """A .nvc file's header, audio tracks and packets.

    ``source`` is any binary file object; only ``read`` is needed, ``seek`` and
    ``tell`` are used for the index when ``seekable()`` says so.
    """

    def __init__(self, source: BinaryIO) -> None:
        self._f = source
        self._pos = 0
        self._pending: tuple[Tag, bytes, int] | None = None
        self.truncated_at: int | None = None
        self.trailer: Trailer | None = None
        self.index: list[IndexEntry] | None = None
        self._start = self._tell()

        preamble = self._read_exact(fmt.PREAMBLE_SIZE)
        if not preamble:
            raise StreamError("empty file: not an .nvc file", 0)
        if not preamble.startswith(fmt.SIGNATURE[: len(preamble)]) or len(preamble) < len(fmt.SIGNATURE):
            if preamble.startswith(fmt.SIGNATURE[: len(preamble)]):
                raise TruncatedStreamError("file ends inside the signature", len(preamble))
            raise StreamError("not an .nvc file (bad signature)", 0)
        if len(preamble) < fmt.PREAMBLE_SIZE:
            raise TruncatedStreamError("file ends inside the version", len(preamble))
        major, minor = preamble[-2], preamble[-1]
        if major != fmt.VERSION[0]:
            raise StreamError(f".nvc version {major}.{minor} is not supported (this nvc reads {fmt.VERSION[0]}.x)",
                              len(fmt.SIGNATURE))
        self.version = (major, minor)

        chunk = self._chunk_or_fail("header")
        if chunk[0] != Tag.HEAD:
            raise StreamError(f"expected the HEAD chunk, found {chunk[0].value.decode()}", chunk[2])
        self.header: Header = fmt.decode_header(chunk[1], chunk[2])
        self.audio: list[AudioTrack] = []
        while len(self.audio) < self.header.audio_tracks:
            chunk = self._chunk_or_fail("audio track descriptions")
            if chunk[0] != Tag.AUDS:
                raise StreamError(f"header announces {self.header.audio_tracks} audio tracks, "
                                  f"{len(self.audio)} AUDS chunks follow", chunk[2])
            self.audio.append(fmt.decode_audio_track(chunk[1], chunk[2]))
        self._next_frame = 0
        self._seen_intra: list[IndexEntry] = []
        self._first_frame = 0
        self._index_at = -1

    # --- low level --------------------------------------------------------------------------------------------

    def _tell(self) -> int | None:
        try:
            return self._f.tell() if self._f.seekable() else None
        except (OSError, AttributeError, ValueError):
            return None

    @property
    def seekable(self) -> bool:
        return self._start is not None

    def _read_exact(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the data), read in bounded pieces.

        Pipes return short reads, so this loops; and it never allocates more than
        what actually arrived, whatever ``n`` a damaged length asked for.
        """
        out = bytearray()
        while len(out) < n:
            piece = self._f.read(min(_READ_PIECE, n - len(out)))
            if not piece:
                break
            out += piece
        self._pos += len(out)
        return bytes(out)

    def _read_chunk(self) -> tuple[Tag, bytes, int] | None:
        """The next chunk (tag, body, offset), None at a clean end of data; raises _Cut inside a chunk."""
        while True:
            at = self._pos
            head = self._read_exact(8)
            if not head:
                return None
            if len(head) < 8:
                raise _Cut(at, head)
            length, raw_tag = struct.unpack(">I4s", head)
            tag = _TAGS.get(raw_tag)
            if tag is None:
                if not (raw_tag.isascii() and raw_tag.isalpha()):
                    raise StreamError(f"bad chunk tag {raw_tag!r} (damaged file?)", at)
                if raw_tag[:1].isupper():
                    raise StreamError(f"unknown critical chunk {raw_tag.decode()}", at)
                if length > fmt.MAX_ANCILLARY_BODY:
                    raise StreamError(f"ancillary chunk {raw_tag.decode()} of {length} bytes is too large", at)
                rest = self._read_exact(length + 4)
                if len(rest) < length + 4:
                    raise _Cut(at, head + rest)
                continue  # ancillary chunk from a later version: skipped
            if length > fmt.MAX_BODY[tag]:
                raise StreamError(f"{tag.value.decode()} chunk declares {length} bytes (limit {fmt.MAX_BODY[tag]})",
                                  at)
            rest = self._read_exact(length + 4)
            if len(rest) < length + 4:
                raise _Cut(at, head + rest)
            body, crc = rest[:length], struct.unpack(">I", rest[length:])[0]
            if fmt.crc32(raw_tag, body) != crc:
                raise StreamError(f"CRC mismatch in {tag.value.decode()} chunk (damaged file)", at)
            return tag, body, at

    def _chunk_or_fail(self, what: str) -> tuple[Tag, bytes, int]:
        try:
            chunk = self._read_chunk()
        except _Cut as cut:
            raise TruncatedStreamError(f"file ends inside the {what}", cut.offset) from None
        if chunk is None:
            raise TruncatedStreamError(f"file ends before the {what}", self._pos)
        return chunk

    @staticmethod
    def _ends_with_trailer(tail: bytes) -> bool:
        """Whether ``tail`` ends in a valid TEND chunk: then the data was not cut, a length was damaged."""
        if len(tail) < fmt.TEND_SIZE:
            return False
        chunk = tail[-fmt.TEND_SIZE :]
        length, tag = struct.unpack(">I4s", chunk[:8])
        body = chunk[8:-4]
        return (tag == Tag.TEND.value and length == len(body)
                and fmt.crc32(tag, body) == struct.unpack(">I", chunk[-4:])[0])

    # --- packets --------------------------------------------------------------------------------------------------

    def packets(self) -> Iterator[VideoPacket | AudioPacket]:
        """Every packet from the current position on; stops quietly at a cut (see ``truncated_at``)."""
        while True:
            if self._pending is not None:
                chunk, self._pending = self._pending, None
            else:
                try:
                    chunk = self._read_chunk()
                except _Cut as cut:
                    if self._ends_with_trailer(cut.tail):
                        raise StreamError("chunk length runs past the end of the file (damaged file)",
                                          cut.offset) from None
                    self.truncated_at = cut.offset
                    return
            if chunk is None:
                if self.trailer is None:
                    self.truncated_at = self._pos
                return
            tag, body, at = chunk
            if self.trailer is not None:
                raise StreamError("data after the trailer", at)
            if tag == Tag.VPKT:
                packet = fmt.decode_video_packet(body, at)
                if packet.index != self._next_frame:
                    raise StreamError(f"frame {packet.index} where frame {self._next_frame} was expected", at)
                if packet.index == self._first_frame and not packet.intra:
                    raise StreamError(f"frame {packet.index} is not intra but starts the decoding", at)
                if packet.intra:
                    self._seen_intra.append(IndexEntry(packet.index, packet.pts, at))
                self._next_frame += 1
                yield packet
            elif tag == Tag.APKT:
                packet = fmt.decode_audio_packet(body, at)
                if packet.track >= self.header.audio_tracks:
                    raise StreamError(f"audio packet for undeclared track {packet.track}", at)
                yield packet
            elif tag == Tag.INDX:
                self.index = fmt.decode_index(body, at)
                mine = [e for e in self.index if e.frame >= self._first_frame]
                if mine != self._seen_intra:
                    raise StreamError("the intra index does not match the packets (damaged file)", at)
                self._index_at = at
            elif tag == Tag.TEND:
                trailer = fmt.decode_trailer(body, at)
                if trailer.frame_count != self._next_frame:
                    raise StreamError(f"trailer counts {trailer.frame_count} frames, the file has "
                                      f"{self._next_frame}", at)
                if self.index is None or trailer.index_offset != self._index_at:
                    raise StreamError("trailer does not point at the index", at)
                self.trailer = trailer
            else:
                raise StreamError(f"{tag.value.decode()} chunk among the packets", at)

    # --- seeking --------------------------------------------------------------------------------------------------

    def read_index(self) -> list[IndexEntry] | None:
        """The intra index of a seekable, complete file (through the trailer); None when there is none."""
        if not self.seekable:
            return None
        here = self._f.tell()
        try:
            end = self._f.seek(0, 2)
            if end - self._start < fmt.PREAMBLE_SIZE + fmt.TEND_SIZE:
                return None
            self._f.seek(end - fmt.TEND_SIZE)
            tail = self._f.read(fmt.TEND_SIZE)
            if not self._ends_with_trailer(tail):
                return None
            trailer = fmt.decode_trailer(tail[8:-4], end - self._start - fmt.TEND_SIZE)
            at = trailer.index_offset
            if not fmt.PREAMBLE_SIZE <= at < end - self._start - fmt.TEND_SIZE:
                raise StreamError("trailer points outside the file", end - self._start - fmt.TEND_SIZE)
            self._f.seek(self._start + at)
            saved = self._pos
            self._pos = at
            chunk = self._read_chunk()
            self._pos = saved
            if chunk is None or chunk[0] != Tag.INDX:
                raise StreamError("trailer does not point at the index", at)
            entries = fmt.decode_index(chunk[1], at)
            # a seek goes wherever an entry says, and nothing read in order vouches for the entries here:
            # every intra VPKT lies between the preamble and the index
            if entries and not (entries[0].offset >= fmt.PREAMBLE_SIZE and entries[-1].offset < at):
                raise StreamError("index entry points outside the packets (damaged file)", at)
            return entries
        except _Cut as cut:
            raise StreamError("index runs past the end of the file", cut.offset) from None
        finally:
            self._f.seek(here)

    def seek_to(self, entry: IndexEntry) -> None:
        """Continue :meth:`packets` at an intra frame of :meth:`read_index`."""
        if not self.seekable:
            raise StreamError("cannot seek in this input (a pipe)")
        if not 0 <= entry.offset <= fmt.MAX_OFFSET:
            raise StreamError(f"cannot seek to byte {entry.offset}")
        self._f.seek(self._start + entry.offset)
        self._pos = entry.offset
        self._pending = None
        self._next_frame = entry.frame
        self._first_frame = entry.frame
        self._seen_intra = []
