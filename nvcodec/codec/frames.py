"""YUV 4:2:0 (or 4:4:4) planes <-> the network's padded 3-channel tensor, and back.

The networks see full-resolution YCbCr: chroma is upsampled by repeating each
sample 2x2, the frame is replicate-padded on the right and bottom to a multiple
of 16, and the output is cropped, chroma 2x2-averaged, scaled to 8 bits and
rounded half to even.  Odd sizes work because 4:2:0 chroma of an odd-sized
frame covers ``2*ceil(n/2)`` luma samples, which is what is cropped back.

4:4:4 frames (RGB sources, coded as BT.709 full-range YCbCr) already are at
full resolution, so they skip the upsampling and the averaging; nothing else
changes, and the stream syntax does not record the chroma format (the .nvc
header does).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nvcodec.media import (  # noqa: F401 - the frame types, re-exported for the coding modules
    CHROMA_FORMATS,
    FRAME_ALIGN,
    ChromaFormat,
    Planes,
    chroma_size,
    latent_size,
    padded_size,
)


def pad_replicate(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Replicate-pad the bottom and right of ``x`` to ``height`` x ``width`` (no-op when equal)."""
    pad_b, pad_r = height - x.shape[-2], width - x.shape[-1]
    if pad_b == 0 and pad_r == 0:
        return x
    return F.pad(x, (0, pad_r, 0, pad_b), mode="replicate")


def planes_to_tensor(frame: Planes, device: torch.device | str = "cpu") -> torch.Tensor:
    """[1, 3, H16, W16] float32 YCbCr in [0, 1], padded for the networks."""
    h, w = frame.height, frame.width
    y = torch.from_numpy(np.ascontiguousarray(frame.y)).to(device=device, dtype=torch.float32) / 255.0
    uv = np.stack((frame.u, frame.v))
    uv = torch.from_numpy(uv).to(device=device, dtype=torch.float32) / 255.0
    if frame.chroma == "420":
        uv = uv.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    ph, pw = padded_size(h, w)
    y = pad_replicate(y[None, None], ph, pw)
    uv = pad_replicate(uv[None], ph, pw)
    return torch.cat((y, uv), dim=1)


def tensor_to_planes(x_hat: torch.Tensor, height: int, width: int, chroma: ChromaFormat = "420") -> Planes:
    """Crop a decoded [1, 3, H16, W16] tensor to the frame and quantise it to 8-bit 4:2:0 (or 4:4:4)."""
    y = x_hat[:, :1, :height, :width]
    if chroma == "444":
        uv = x_hat[:, 1:, :height, :width]
    else:
        ch, cw = chroma_size(height, width)
        uv = F.avg_pool2d(x_hat[:, 1:, : 2 * ch, : 2 * cw], kernel_size=2, stride=2)
    y8 = _to_uint8(y)
    uv8 = _to_uint8(uv)
    return Planes(y=y8[0, 0], u=uv8[0, 0], v=uv8[0, 1], chroma=chroma)


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return torch.round(torch.clamp(t * 255.0, 0.0, 255.0)).to(torch.uint8).cpu().numpy()
