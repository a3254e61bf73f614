"""Encode and decode a generated clip with the library API, then check the decoder agrees.

Uses the shipped default model (``nvc-compact``), the one ``nvc`` uses without ``--model``.
"""

from nvcodec import numerics

numerics.prepare_environment()  # before torch is imported

import numpy as np  # noqa: E402

from nvcodec.codec.frames import Planes  # noqa: E402
from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder  # noqa: E402
from nvcodec.models.registry import DEFAULT_MODEL, resolve_model  # noqa: E402
from nvcodec.settings import CodingSettings  # noqa: E402


def clip(frames: int = 4, height: int = 71, width: int = 99) -> list[Planes]:
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for t in range(frames):
        y = (128 + 80 * np.sin((xx + 3 * t) / 9.0) * np.cos(yy / 13.0)).astype(np.uint8)
        c = np.full(((height + 1) // 2, (width + 1) // 2), 128, np.uint8)
        out.append(Planes(y, c, c))
    return out


def main() -> None:
    model = resolve_model()  # the shipped default; synthetic_model(seed) gives the seeded test weights
    settings = CodingSettings(qp_i=40, intra_period=-1, reset_interval=2)
    encoder = SequenceEncoder(model, settings)
    encoded = [encoder.encode(frame) for frame in clip()]
    stream = b"".join(u.to_bytes() for e in encoded for u in e.units)
    decoded = list(SequenceDecoder(model, settings.skip_threshold).decode_stream(stream))
    exact = all(np.array_equal(getattr(e.reconstruction, p), getattr(d, p))
                for e, d in zip(encoded, decoded, strict=True) for p in "yuv")
    print(f"{DEFAULT_MODEL}: {len(decoded)} frames, {len(stream)} bytes, decoder matches encoder exactly: {exact}")
    if not exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
