"""Type stubs of the native module (checked against the built module by mypy.stubtest in the test suite)."""

import builtins
from typing import Any, Final, Literal, Optional, Union, final

__version__: Final[str]
ERROR_CODES: Final[list[str]]

_Format = Literal["msgpack", "json"]
_BytesLike = Union[bytes, bytearray, memoryview]

class DashfeedError(Exception):
    """Base class of every dashfeed error; ``code`` is the stable error code."""

    code: str

class DecodeError(DashfeedError, ValueError): ...
class EncodeError(DashfeedError, ValueError): ...
class UnsupportedTypeError(DashfeedError, TypeError): ...
class TooLargeError(DashfeedError, ValueError): ...
class TooDeepError(DashfeedError, ValueError): ...
class InvalidInputError(DashfeedError, ValueError): ...

class CircuitOpenError(DashfeedError):
    retry_after: float

class RateLimitedError(DashfeedError):
    retry_after: float

class SlowConsumerError(DashfeedError): ...
class ClosedError(DashfeedError): ...
class TimeoutError(DashfeedError, builtins.TimeoutError): ...
class IoError(DashfeedError, OSError): ...
class InternalError(DashfeedError, RuntimeError): ...

def encode(
    value: Any,
    format: _Format = "msgpack",
    *,
    compress_over: Optional[int] = ...,
    level: int = ...,
    max_depth: Optional[int] = None,
) -> bytes:
    """Encodes ``value`` as MessagePack or JSON, gzipped when longer than ``compress_over`` bytes."""

def decode(
    data: _BytesLike,
    format: _Format = "msgpack",
    *,
    max_input: Optional[int] = None,
    max_decompressed: Optional[int] = None,
    max_depth: Optional[int] = None,
) -> Any:
    """Decodes bytes made by :func:`encode`, msgpack-python or any JSON encoder, gzipped or not."""

@final
class Codec:
    """An encoder/decoder with fixed options."""

    def __new__(
        cls,
        format: _Format = "msgpack",
        *,
        compress_over: Optional[int] = ...,
        level: int = ...,
        max_input: Optional[int] = None,
        max_decompressed: Optional[int] = None,
        max_depth: Optional[int] = None,
    ) -> Codec: ...
    def encode(self, value: Any) -> bytes: ...
    def decode(self, data: _BytesLike) -> Any: ...
    @property
    def format(self) -> str: ...
    @property
    def compress_over(self) -> Optional[int]: ...
    @property
    def level(self) -> int: ...
