"""What the user asked of rate control, checked once, and the controller that does it."""

from __future__ import annotations

from dataclasses import dataclass

from nvcodec.errors import ConfigError
from nvcodec.ratecontrol.controller import FixedQp, OnePass, RateController
from nvcodec.ratecontrol.twopass import PassOneRecorder, TwoPass, log_path, read_pass_log
from nvcodec.ratecontrol.vbv import Vbv
from nvcodec.settings import CodingSettings

#: ffmpeg's default pass-log prefix is ffmpeg2pass
DEFAULT_PASSLOG = "nvc2pass"


@dataclass(frozen=True)
class RateRequest:
    bitrate: int | None = None  # bits per second (-b:v)
    maxrate: int | None = None  # bits per second (-maxrate)
    bufsize: int | None = None  # bits (-bufsize)
    pass_number: int | None = None  # 1 or 2 (-pass)
    passlog: str = DEFAULT_PASSLOG  # -passlogfile PREFIX

    def __post_init__(self) -> None:
        if (self.maxrate is None) != (self.bufsize is None):
            raise ConfigError("maxrate" if self.bufsize is None else "bufsize",
                              self.maxrate if self.bufsize is None else self.bufsize,
                              "given together with -bufsize / -maxrate (the buffer needs both)")
        if self.pass_number not in (None, 1, 2):
            raise ConfigError("pass", self.pass_number, "1 or 2")
        if self.pass_number == 2 and self.bitrate is None:
            raise ConfigError("pass", 2, "a second pass with a target bitrate (-b:v)")
        if self.bitrate is not None and self.maxrate is not None and self.bitrate > self.maxrate:
            raise ConfigError("bitrate", self.bitrate, f"at most -maxrate ({self.maxrate})")

    @property
    def active(self) -> bool:
        return self.bitrate is not None or self.maxrate is not None or self.pass_number is not None

    @property
    def log_file(self) -> str:
        return log_path(self.passlog)


def build_controller(request: RateRequest, settings: CodingSettings, pixels: int, fps: float,
                     model_sha256: str, total_frames: int | None = None) -> RateController | PassOneRecorder:
    """The controller for ``request``; ``settings`` resolved against the model that codes; ``total_frames``
    when the input says how many frames it holds."""
    vbv = Vbv(request.maxrate, request.bufsize, fps) if request.maxrate is not None else None
    if request.pass_number == 2:
        return TwoPass(settings, pixels, fps, request.bitrate, read_pass_log(request.log_file), model_sha256, vbv)
    if request.bitrate is not None:
        controller: RateController = OnePass(settings, pixels, fps, request.bitrate, vbv, total_frames)
    else:
        controller = FixedQp(settings, pixels, fps, vbv)
    if request.pass_number == 1:
        return PassOneRecorder(controller, settings, model_sha256)
    return controller


def finish(request: RateRequest, controller: RateController | PassOneRecorder) -> None:
    """After the last frame: a first pass writes its log."""
    if request.pass_number == 1 and isinstance(controller, PassOneRecorder):
        controller.log.write(request.log_file)
