"""The errors entrozip raises on bad input.

`FormatError` is the one error type for every file or stream entrozip cannot
read: truncated, corrupted, wrong version, hostile header, wrong model. It is a
`ValueError`, so generic callers that already catch those keep working.
"""


class EntrozipError(Exception):
    """Base class of entrozip's own errors."""


class FormatError(EntrozipError, ValueError):
    """A bitstream or container is truncated, corrupted, of an unknown version, or
    does not match the model it is decoded with. The message names the problem."""
