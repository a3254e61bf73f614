"""The checks behind ``nvc conform DIR``: the four properties of a conforming decoder/encoder.

A conformance folder holds ``cases.json`` (settings, weight seed, stream
hashes), ``<case>.bin`` and ``<case>.npz`` per case, the two state-dict layouts
and the Gaussian CDF table.  Nothing about the cases (names, sizes, settings,
seed) is assumed: everything is read from the folder, defensively.

1. weights   synthetic checkpoints load with strict=True and reproduce every checksum
2. decode    every stream decodes to exactly the expected frames
3. encode    every source encodes to exactly the expected stream (sha256)
4. cdf       the Gaussian CDF table is built exactly
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nvcodec.codec.frames import Planes
from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder
from nvcodec.entropy.tables import gaussian_table
from nvcodec.errors import NvcError, StreamError
from nvcodec.models.bundle import CodecModel, synthetic_model
from nvcodec.models.checkpoint import load_into, unwrap_state_dict
from nvcodec.models.inter import InterModel
from nvcodec.models.intra import IntraModel
from nvcodec.models.synthetic import synthetic_state_dict
from nvcodec.settings import CodingSettings

_MAX_JSON_BYTES = 16 << 20
_MAX_CASE_BYTES = 256 << 20
_CHECKSUM_REL_TOL = 1e-6  # "to float32 precision"


@dataclass(frozen=True)
class CaseSpec:
    name: str
    height: int
    width: int
    frames: int
    settings: CodingSettings
    stream_sha256: str


@dataclass(frozen=True)
class CheckResult:
    case: str  # "*" for folder-wide checks
    prop: str  # weights | decode | encode | cdf
    passed: bool
    detail: str


def _read_json(path: Path) -> object:
    try:
        if path.stat().st_size > _MAX_JSON_BYTES:
            raise StreamError(f"{path.name} is larger than {_MAX_JSON_BYTES} bytes")
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StreamError(f"cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StreamError(f"{path.name} is not valid JSON: {exc}") from None


def _field(obj: dict, key: str, kind: type | tuple[type, ...], where: str):
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise StreamError(f"{where}: field {key!r} is missing or not {getattr(kind, '__name__', kind)}")
    return value


def read_cases(folder: Path) -> tuple[int, list[CaseSpec]]:
    """Weight seed and case list of a conformance folder."""
    doc = _read_json(folder / "cases.json")
    if not isinstance(doc, dict):
        raise StreamError("cases.json must hold an object")
    seed = _field(doc, "weight_seed", int, "cases.json")
    raw = _field(doc, "cases", list, "cases.json")
    cases = []
    for i, c in enumerate(raw):
        where = f"cases.json case {i}"
        if not isinstance(c, dict):
            raise StreamError(f"{where} is not an object")
        name = _field(c, "name", str, where)
        if not name or os.sep in name or name.startswith("."):
            raise StreamError(f"{where}: unusable case name {name!r}")
        thr = c.get("force_zero_thres")
        if thr is not None and not isinstance(thr, (int, float)):
            raise StreamError(f"{where}: force_zero_thres must be a number or null")
        try:
            settings = CodingSettings(
                qp_i=_field(c, "qp_i", int, where),
                qp_p=_field(c, "qp_p", int, where),
                intra_period=_field(c, "intra_period", int, where),
                reset_interval=_field(c, "reset_interval", int, where),
                two_ec=bool(_field(c, "two_ec", bool, where)),
                skip_threshold=None if thr is None or thr < 0 else float(thr),
            )
        except NvcError as exc:
            raise StreamError(f"{where}: {exc}") from None
        cases.append(CaseSpec(
            name=name,
            height=_field(c, "height", int, where),
            width=_field(c, "width", int, where),
            frames=_field(c, "frames", int, where),
            settings=settings,
            stream_sha256=_field(c, "stream_sha256", str, where).lower(),
        ))
    return seed, cases


def _load_planes(path: Path, prefix: str) -> list[Planes]:
    if path.stat().st_size > _MAX_CASE_BYTES:
        raise StreamError(f"{path.name} is larger than {_MAX_CASE_BYTES} bytes")
    with np.load(path, allow_pickle=False) as data:
        y, u, v = (data[f"{prefix}_{c}"] for c in "yuv")
    if not (y.ndim == u.ndim == v.ndim == 3) or not (len(y) == len(u) == len(v)):
        raise StreamError(f"{path.name}: {prefix}_* must be [frames, h, w] arrays of equal length")
    return [Planes(y[i].astype(np.uint8), u[i].astype(np.uint8), v[i].astype(np.uint8)) for i in range(len(y))]


def check_weights(folder: Path, seed: int) -> CheckResult:
    """Strict load of rule-made checkpoints (through the real loader) and the seed-1 checksums."""
    problems = []
    for fname, cls in (("state_dict_dmci.json", IntraModel), ("state_dict_dmc.json", InterModel)):
        layout = _read_json(folder / fname)
        if not isinstance(layout, dict):
            raise StreamError(f"{fname} must hold an object")
        shapes = {}
        for key, entry in layout.items():
            shape = entry.get("shape") if isinstance(entry, dict) else None
            if not isinstance(shape, list) or not all(isinstance(s, int) and 0 < s < 1 << 20 for s in shape):
                raise StreamError(f"{fname}: bad shape for {key!r}")
            shapes[key] = tuple(shape)
        buffer = io.BytesIO()
        torch.save({"state_dict": {f"module.{k}": v for k, v in synthetic_state_dict(seed, shapes).items()}}, buffer)
        buffer.seek(0)
        try:
            load_into(cls(), unwrap_state_dict(torch.load(buffer, map_location="cpu", weights_only=True)), fname)
        except NvcError as exc:
            problems.append(str(exc))
        bad = 0
        for key, value in synthetic_state_dict(1, shapes).items():
            expected = layout[key].get("checksum_seed1")
            actual = float(value.to(torch.float64).sum())
            if not isinstance(expected, (int, float)) or not math.isclose(
                actual, expected, rel_tol=_CHECKSUM_REL_TOL, abs_tol=1e-9
            ):
                bad += 1
        if bad:
            problems.append(f"{fname}: {bad} of {len(layout)} checksums differ")
    return CheckResult("*", "weights", not problems, "; ".join(problems) or "strict load and all checksums match")


def check_cdf(folder: Path) -> CheckResult:
    doc = _read_json(folder / "gaussian_cdf_table.json")
    if not isinstance(doc, dict):
        raise StreamError("gaussian_cdf_table.json must hold an object")
    ours = gaussian_table()
    try:
        cdf = np.asarray(doc["cdf"], dtype=np.int64)
        length = np.asarray(doc["cdf_length"], dtype=np.int64)
        offset = np.asarray(doc["offset"], dtype=np.int64)
    except (KeyError, ValueError, TypeError) as exc:
        raise StreamError(f"gaussian_cdf_table.json is malformed: {exc}") from None
    same = (
        cdf.shape == ours.cdf.shape
        and np.array_equal(cdf, ours.cdf)
        and np.array_equal(length, ours.lengths)
        and np.array_equal(offset, ours.offsets)
    )
    return CheckResult("*", "cdf", bool(same), "identical" if same else "table differs")


def check_decode(folder: Path, case: CaseSpec, model: CodecModel) -> CheckResult:
    stream = (folder / f"{case.name}.bin").read_bytes()
    expected = _load_planes(folder / f"{case.name}.npz", "rec")
    decoder = SequenceDecoder(model, case.settings.skip_threshold, device="cpu")
    try:
        frames = list(decoder.decode_stream(stream))
    except NvcError as exc:
        return CheckResult(case.name, "decode", False, f"stream rejected: {exc}")
    if len(frames) != len(expected):
        return CheckResult(case.name, "decode", False, f"{len(frames)} frames decoded, {len(expected)} expected")
    for i, (got, want) in enumerate(zip(frames, expected, strict=True)):
        for plane in "yuv":
            a, b = getattr(got, plane), getattr(want, plane)
            if a.shape != b.shape or not np.array_equal(a, b):
                n = int((a != b).sum()) if a.shape == b.shape else -1
                return CheckResult(case.name, "decode", False, f"frame {i} plane {plane}: {n} samples differ")
    return CheckResult(case.name, "decode", True, f"{len(frames)} frames bit-exact")


def check_encode(folder: Path, case: CaseSpec, model: CodecModel) -> CheckResult:
    sources = _load_planes(folder / f"{case.name}.npz", "src")[: case.frames]
    encoder = SequenceEncoder(model, case.settings, device="cpu", reconstruct=False)
    stream = b"".join(u.to_bytes() for frame in sources for u in encoder.encode(frame).units)
    digest = hashlib.sha256(stream).hexdigest()
    ok = digest == case.stream_sha256
    return CheckResult(case.name, "encode", ok, f"sha256 {digest[:16]}… {'matches' if ok else 'differs'}")


def run_conformance(folder: str | os.PathLike[str]) -> Iterator[CheckResult]:
    """Yield one result per (case, property), folder-wide checks first."""
    root = Path(folder)
    if not (root / "cases.json").is_file():
        raise StreamError(f"{root} has no cases.json: not a conformance folder")
    seed, cases = read_cases(root)
    yield check_weights(root, seed)
    yield check_cdf(root)
    model = synthetic_model(seed)
    for case in cases:
        yield check_decode(root, case, model)
        yield check_encode(root, case, model)
