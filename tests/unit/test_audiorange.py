"""AudioWindow: the packets kept for a selected range are exactly those overlapping it, released in seek-safe order."""

from fractions import Fraction

from nvcodec.container.format import AudioPacket
from nvcodec.io.audiorange import AudioWindow

TB = Fraction(1, 1000)  # milliseconds


def packet(pts: int | None, duration: int = 20, track: int = 0) -> AudioPacket:
    return AudioPacket(track, pts, pts, duration, True, b"x")


def run(window: AudioWindow, audio: list[int], frames: list[int], end: Fraction | None = None) -> list[int]:
    """Offer 20 ms packets starting at ``audio`` (ms) all at once, then show kept frames (ms), then finish."""
    kept = []
    for pts in audio:
        kept += window.offer(packet(pts))
    for t in frames:
        kept += window.video(Fraction(t, 1000))
    kept += window.finish(end)
    return [p.pts for p in kept]


def test_no_selection_keeps_everything_in_order():
    assert run(AudioWindow([TB]), [-20, 0, 20, 40, 60], [0, 40]) == [-20, 0, 20, 40, 60]


def test_range_keeps_exactly_the_overlapping_packets_shifted_to_the_start():
    # range [30, 90): 10-30 only touches it, 20-40 and 80-100 reach over its ends, 90-110 starts at its end
    window = AudioWindow([TB], Fraction(30, 1000), Fraction(90, 1000))
    kept = run(window, [10, 20, 40, 60, 80, 90, 110], [40, 80])
    assert kept == [20 - 30, 40 - 30, 60 - 30, 80 - 30]
    assert window.passed(0)


def test_frames_end_known_late_drops_what_the_demuxer_handed_over_early():
    """--frames: audio from far beyond the last frame arrives first and must not be kept."""
    window = AudioWindow([TB])
    kept = []
    for pts in range(0, 200, 20):
        kept += window.offer(packet(pts))
    kept += window.video(Fraction(0))
    kept += window.video(Fraction(40, 1000))
    kept += window.finish(Fraction(80, 1000))  # two 40 ms frames
    assert [p.pts for p in kept] == [0, 20, 40, 60]
    assert window.offer(packet(70)) and not window.offer(packet(80)) and window.passed(0)


def test_a_packet_goes_after_every_frame_it_overlaps():
    """A reader that seeks to a frame must find the packets still sounding at it after that frame."""
    window = AudioWindow([TB])
    order = []
    for pts in (0, 20, 40):
        window.offer(packet(pts, duration=25))
    for t in (0, 40, 80):
        order += [f"a{p.pts}" for p in window.video(Fraction(t, 1000))] + [f"v{t}"]
    order += [f"a{p.pts}" for p in window.finish()]
    assert order == ["v0", "a0", "v40", "a20", "a40", "v80"]  # a20 (20-45 ms) sounds at v40


def test_packets_without_timestamps_or_duration():
    window = AudioWindow([TB], Fraction(30, 1000), Fraction(90, 1000))
    assert [p.pts for p in window.offer(packet(None))] == [None]  # cannot be placed: kept as it came
    assert run(window, [], []) == []
    window = AudioWindow([TB], Fraction(30, 1000))
    for pts in (29, 30, 50):
        window.offer(AudioPacket(0, pts, pts, 0, True, b"x"))
    assert [p.pts for p in window.finish()] == [0, 20]


def test_tracks_have_their_own_time_base():
    window = AudioWindow([TB, Fraction(1, 48000)], Fraction(1, 10), Fraction(2, 10))
    window.offer(packet(4800, 960, track=1))  # 100-120 ms at 48 kHz
    window.offer(packet(9600, 960, track=1))  # 200-220 ms: at the end, dropped
    window.offer(packet(95, 10))
    assert [(p.track, p.pts) for p in window.finish()] == [(1, 0), (0, -5)]
    assert window.passed(1) and not window.passed(0)
