"""The few exception types nvc raises.

Every error derives from :class:`NvcError`, so a caller can catch "anything nvc
refused"; the subclasses that describe bad values also derive from the builtin
``ValueError`` so generic code that already catches ``ValueError`` keeps
working.  The CLI maps all of them to exit code 1 with one line of text.
"""

from __future__ import annotations


class NvcError(Exception):
    """Base of every error nvc raises on purpose."""


class InputError(NvcError):
    """The source media could not be read or converted."""


class StreamError(NvcError, ValueError):
    """A DCVC-RT stream or .nvc file is malformed.

    ``offset`` is the byte position where the problem was found, when known.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        if offset is not None:
            message = f"{message} (at byte {offset})"
        super().__init__(message)


class TruncatedStreamError(StreamError):
    """The data ends before a complete syntax element could be read."""


class ConfigError(NvcError, ValueError):
    """A setting is out of range; the message names the key, value and range."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {key} = {value!r}: {allowed}")


class ModelError(NvcError):
    """A model is unknown, its checkpoint does not fit, or a stream needs another model."""


class NumericsError(NvcError):
    """The numerics profile a stream needs cannot be established in this process."""
