"""Which passed-through audio packets go with a selected stretch of video (``--ss``, ``-t``, ``--frames``).

Audio is stream-copied, so it can only be cut between packets (1024 samples,
about 23 ms, for 44.1 kHz AAC).  The packets kept are exactly those that
overlap the selected video range ``[start, end)``: every packet holding a
sample inside it, and none holding none.  So the audio starts at most one
packet before the range and ends at most one packet after it, each by less
than that packet's duration; a packet that only touches the range (ends at
``start`` or begins at ``end``) is left out.  Packets without a timestamp
cannot be placed and are kept as they come.

Two things make this more than a filter on each packet as it is demuxed:

- with ``--frames`` the end is only known once the last frame has been
  decoded, and by then the demuxer (and a frame-threaded decoder's delay) has
  already handed over audio from beyond it; so packets wait in
  :class:`AudioWindow` until the video shows that they are inside the range;
- a reader that seeks to an intra frame at time ``v`` needs every packet still
  sounding at ``v`` (ending after it) to come after that frame in the file.  A
  packet is therefore released just before the first kept frame that starts
  at or after its end, which puts it after every frame it overlaps.

Memory stays small: packets wait for at most the decoder's delay plus one
frame, or, once the video has ended, not at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from fractions import Fraction

from nvcodec.media import AudioPacket


class AudioWindow:
    """Keeps the audio packets overlapping ``[start, end)`` and releases them in seek-safe order.

    Call :meth:`offer` with each audio packet (timestamps as in the input),
    :meth:`video` before writing each kept video frame, and :meth:`finish`
    when the video selection has ended; each returns the packets to write
    now, with timestamps moved back by ``start`` so the selection begins at 0.
    """

    def __init__(self, time_bases: Sequence[Fraction], start: Fraction = Fraction(0),
                 end: Fraction | None = None) -> None:
        self._time_bases = list(time_bases)
        self.start = start
        self.end = end  # known in advance for -t; --frames narrows it in finish()
        self._waiting: list[tuple[Fraction, AudioPacket]] = []  # (end time, packet), in arrival order
        self._finished = False
        self._passed: set[int] = set()

    def offer(self, packet: AudioPacket) -> list[AudioPacket]:
        """Take one audio packet; returns what can be written now (often nothing: it waits for the video)."""
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is None:
            return [self._shift(packet)]
        tb = self._time_bases[packet.track]
        t0 = ts * tb
        t1 = t0 + max(packet.duration, 0) * tb
        if self.end is not None and t0 >= self.end:
            self._passed.add(packet.track)
            return []
        if self.start and (t1 <= self.start if t1 > t0 else t0 < self.start):
            return []  # wholly before the range
        if self._finished:
            return [self._shift(packet)]
        self._waiting.append((t1, packet))
        return []

    def video(self, t: Fraction) -> list[AudioPacket]:
        """A kept video frame starts at ``t`` (input time): the packets that end by then go before it."""
        ready = [p for t1, p in self._waiting if t1 <= t]
        if ready:
            self._waiting = [(t1, p) for t1, p in self._waiting if t1 > t]
        return [self._shift(p) for p in ready]

    def finish(self, end: Fraction | None = None) -> list[AudioPacket]:
        """The video selection ended at ``end`` (None: with the input): the waiting packets inside the range.

        Packets offered afterwards are written at once when they overlap the
        range, so the caller can keep demuxing until :meth:`passed` says every
        track has gone beyond it.
        """
        if end is not None:
            self.end = end if self.end is None else min(self.end, end)
        self._finished = True
        kept = [p for _, p in self._waiting if self.end is None or self._start_time(p) < self.end]
        self._waiting = []
        return [self._shift(p) for p in kept]

    def passed(self, track: int) -> bool:
        """Whether ``track`` has delivered a packet beginning at or after the end (so no later one is kept)."""
        return track in self._passed

    def _start_time(self, packet: AudioPacket) -> Fraction:
        ts = packet.pts if packet.pts is not None else packet.dts
        return Fraction(-1) if ts is None else ts * self._time_bases[packet.track]

    def _shift(self, packet: AudioPacket) -> AudioPacket:
        if not self.start:
            return packet
        offset = round(self.start / self._time_bases[packet.track])
        return dataclasses.replace(packet, pts=None if packet.pts is None else packet.pts - offset,
                                   dts=None if packet.dts is None else packet.dts - offset)
