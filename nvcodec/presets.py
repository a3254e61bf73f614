"""Named encode settings and quality ladders, from TOML files (``presets/*.toml``).

An encode preset sets any of the coding settings; a ladder preset adds rungs
(a size and a qp each) that ``nvc ladder`` encodes one by one::

    description = "balanced speed and size"
    [encode]
    qp = 32               # 0..63, higher is better quality
    intra_period = -1
    reset_interval = 64

    [[rung]]              # ladder presets only
    name = "360p"
    height = 360          # width follows the aspect ratio (or give width, or both)
    qp = 24

Everything is validated when the file is read, and an error names the file
and the key (``presets/x.toml: encode.qp = 99: an integer 0..63``), so a
mistyped preset never reaches an encoder.  ``--preset`` takes a name from the
preset folder or a path; options given on the command line win over it.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from nvcodec.errors import ConfigError
from nvcodec.ratecontrol.units import parse_bits
from nvcodec.settings import QP_MAX, CodingSettings, check_intra_refine

#: where the shipped presets live inside the package: ``nvcodec/_presets`` is a link to the repository's
#: top-level presets/ folder, copied into wheels as package data, so one lookup serves a checkout, an
#: editable install and a regular one (none of which may rely on the current directory)
PACKAGED_PRESETS = "_presets"
MAX_RUNGS = 32
MAX_PRESET_BYTES = 1 << 16

#: preset key -> (CodingSettings field, allowed description, check)
_ENCODE_KEYS = {
    "qp": "qp_i",
    "qp_p": "qp_p",
    "intra_period": "intra_period",
    "reset_interval": "reset_interval",
    "two_ec": "two_ec",
    "skip_threshold": "skip_threshold",
    "block_skip": "block_skip",
    "motion": "motion",
    "layer_step": "layer_step",
    "layer": "layer",
    "numerics": "numerics",
}


#: preset keys of the encoder's effort: what the encoder does, not what the stream records
_EFFORT_KEYS = {"intra_refine": check_intra_refine}


@dataclass(frozen=True)
class Rung:
    """One rendition: a size and a quality (``qp``) or a bitrate, optionally under a buffer."""

    name: str
    width: int | None
    height: int | None
    qp: int | None
    bitrate: int | None = None  # bits per second
    maxrate: int | None = None
    bufsize: int | None = None  # bits

    def size_for(self, width: int, height: int) -> tuple[int, int]:
        """This rung's frame size for a ``width`` x ``height`` source (aspect kept, rounded to even)."""
        if self.width and self.height:
            return self.width, self.height
        if self.height:
            return max(2, round(width * self.height / height / 2) * 2), self.height
        if self.width:
            return self.width, max(2, round(height * self.width / width / 2) * 2)
        return width, height


@dataclass(frozen=True)
class Preset:
    """An encode preset (no rungs) or a ladder preset."""

    name: str
    description: str = ""
    values: dict[str, object] = field(default_factory=dict)  # CodingSettings fields
    rungs: tuple[Rung, ...] = ()
    intra_refine: int = 0  # the encoder's search on I frames (nvcodec.codec.latent_refine)

    @property
    def is_ladder(self) -> bool:
        return bool(self.rungs)

    def settings(self, **overrides: object) -> CodingSettings:
        """Coding settings: nvc's defaults, then the preset, then ``overrides`` that are not None."""
        values = dict(self.values)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return CodingSettings(**values)


def preset_dir() -> Path:
    """The folder ``--preset NAME`` looks in: ``$NVC_PRESETS`` when set, else the presets packaged with nvcodec.

    Read through :mod:`importlib.resources` rather than a path relative to the
    repository, because an installed nvcodec has no repository beside it.
    """
    override = os.environ.get("NVC_PRESETS")
    if override:
        return Path(override)
    return Path(str(resources.files("nvcodec").joinpath(PACKAGED_PRESETS)))


def preset_names() -> list[str]:
    """The names ``--preset`` accepts without a path (the .toml files of :func:`preset_dir`)."""
    folder = preset_dir()
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def preset_path(spec: str) -> Path:
    """The file ``--preset`` names: an existing path, or a name in the preset folder."""
    path = Path(spec)
    if path.suffix == ".toml" or os.sep in spec:
        if not path.is_file():
            raise ConfigError("preset", spec, "an existing .toml file or a preset name")
        return path
    candidate = preset_dir() / f"{spec}.toml"
    if not candidate.is_file():
        raise ConfigError("preset", spec, f"one of {', '.join(preset_names()) or '(none installed)'} or a .toml file")
    return candidate


def load_preset(spec: str) -> Preset:
    path = preset_path(spec)
    if path.stat().st_size > MAX_PRESET_BYTES:
        raise ConfigError("preset", str(path), f"a file under {MAX_PRESET_BYTES} bytes")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("preset", str(path), f"valid TOML ({exc})") from None
    except RecursionError:  # tomllib recurses once per nesting level; no preset nests deeper than 3
        raise ConfigError("preset", str(path), "TOML nested a few levels deep at most") from None
    return parse_preset(doc, path.stem, str(path))


def parse_preset(doc: dict, name: str, where: str = "preset") -> Preset:
    """A preset from a parsed TOML document; every key checked, errors name ``where`` and the key."""
    def fail(key: str, value: object, allowed: str) -> ConfigError:
        return ConfigError(f"{where}: {key}", value, allowed)

    unknown = set(doc) - {"description", "encode", "rung"}
    if unknown:
        key = sorted(unknown)[0]
        raise fail(key, doc[key], "not a preset key (description, [encode], [[rung]])")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise fail("description", description, "a string")
    encode = doc.get("encode", {})
    if not isinstance(encode, dict):
        raise fail("encode", encode, "a table")
    values: dict[str, object] = {}
    effort: dict[str, int] = {}
    for key, value in encode.items():
        if key in _EFFORT_KEYS:
            try:
                effort[key] = _EFFORT_KEYS[key](value)
            except ConfigError as exc:
                raise fail(f"encode.{key}", exc.value, exc.allowed) from None
            continue
        if key not in _ENCODE_KEYS:
            raise fail(f"encode.{key}", value, f"one of {', '.join((*_ENCODE_KEYS, *_EFFORT_KEYS))}")
        values[_ENCODE_KEYS[key]] = value
    try:
        CodingSettings(**values)
    except ConfigError as exc:
        key = next(k for k, f in _ENCODE_KEYS.items() if f == exc.key)
        raise fail(f"encode.{key}", exc.value, exc.allowed) from None
    except TypeError as exc:
        raise fail("encode", encode, str(exc)) from None
    rungs = doc.get("rung", [])
    if not isinstance(rungs, list) or len(rungs) > MAX_RUNGS:
        raise fail("rung", rungs, f"an array of at most {MAX_RUNGS} [[rung]] tables")
    parsed: list[Rung] = []
    for i, rung in enumerate(rungs):
        if not isinstance(rung, dict):
            raise fail(f"rung[{i}]", rung, "a table")
        extra = set(rung) - {"name", "width", "height", "qp", "bitrate", "maxrate", "bufsize"}
        if extra:
            key = sorted(extra)[0]
            raise fail(f"rung[{i}].{key}", rung[key], "one of name, width, height, qp, bitrate, maxrate, bufsize")
        rname = rung.get("name", f"rung{i}")
        if not isinstance(rname, str) or not rname or not all(c.isalnum() or c in "-_." for c in rname):
            raise fail(f"rung[{i}].name", rname, "a file-name-safe string (letters, digits, - _ .)")
        for key in ("width", "height"):
            v = rung.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 2 <= v <= 16384):
                raise fail(f"rung[{i}].{key}", v, "an integer 2..16384")
        rates = {key: _rung_bits(rung, key, f"rung[{i}].{key}", fail) for key in ("bitrate", "maxrate", "bufsize")}
        qp = rung.get("qp")
        if ("qp" in rung) == (rates["bitrate"] is not None):
            raise fail(f"rung[{i}]", sorted(rung), "a qp or a bitrate (one of the two)")
        if qp is not None and (not isinstance(qp, int) or isinstance(qp, bool) or not 0 <= qp <= QP_MAX):
            raise fail(f"rung[{i}].qp", qp, f"an integer 0..{QP_MAX} (higher is better quality)")
        if (rates["maxrate"] is None) != (rates["bufsize"] is None):
            raise fail(f"rung[{i}]", sorted(rung), "maxrate and bufsize together (the buffer needs both)")
        parsed.append(Rung(rname, rung.get("width"), rung.get("height"), qp, **rates))
    if len({r.name for r in parsed}) != len(parsed):
        raise fail("rung", [r.name for r in parsed], "rungs with distinct names")
    return Preset(name, description, values, tuple(parsed), **effort)


def rung_settings(preset: Preset, rung: Rung) -> CodingSettings:
    """The rung's settings: the preset's, at the rung's qp (a bitrate rung starts from the preset's qp)."""
    settings = preset.settings()
    return dataclasses.replace(settings, qp_i=rung.qp if rung.qp is not None else settings.qp_i, qp_p=None)


def _rung_bits(rung: dict, key: str, where: str, fail) -> int | None:
    """A rung's bitrate or buffer size: ffmpeg units in a string (``"2.5M"``) or a number of bits."""
    value = rung.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise fail(where, value, "a bitrate such as \"500k\", \"2.5M\" or 1000000")
    try:
        return parse_bits(str(value), key)
    except ValueError as exc:
        raise fail(where, value, str(exc)) from None
