"""nvc: the DCVC-RT neural video codec as a library."""

from nvcodec.errors import (
    ConfigError,
    InputError,
    ModelError,
    NumericsError,
    NvcError,
    StreamError,
    TruncatedStreamError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "InputError",
    "ModelError",
    "NumericsError",
    "NvcError",
    "StreamError",
    "TruncatedStreamError",
    "__version__",
]
