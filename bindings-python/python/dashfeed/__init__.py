"""dashfeed — a real-time dashboard feed engine with a Rust core.

Everything here is implemented in the native module ``dashfeed._native``; this package re-exports it with
its types (see ``_native.pyi``). Errors derive from :class:`DashfeedError` and carry ``.code``, the stable
error code shared with the Rust core and the Node module.
"""

from ._native import (
    ERROR_CODES,
    Aggregator,
    WindowResult,
    CircuitOpenError,
    ManualClock,
    Permit,
    RateDecision,
    ClosedError,
    Codec,
    Demo,
    DashfeedError,
    DecodeError,
    EncodeError,
    Hub,
    Message,
    Subscription,
    InternalError,
    InvalidInputError,
    IoError,
    RateLimitedError,
    SlowConsumerError,
    TimeoutError,
    TooDeepError,
    TooLargeError,
    UnsupportedTypeError,
    __version__,
    decode,
    encode,
)
from .breaker import CircuitBreaker, RateLimiter
from .server import Server
from .window import count, hopping, session, tumbling

__all__ = [
    "Aggregator",
    "WindowResult",
    "count",
    "hopping",
    "session",
    "tumbling",
    "CircuitBreaker",
    "Hub",
    "ManualClock",
    "Message",
    "Subscription",
    "Permit",
    "RateDecision",
    "RateLimiter",
    "Server",
    "ERROR_CODES",
    "CircuitOpenError",
    "ClosedError",
    "Demo",
    "Codec",
    "DashfeedError",
    "DecodeError",
    "EncodeError",
    "InternalError",
    "InvalidInputError",
    "IoError",
    "RateLimitedError",
    "SlowConsumerError",
    "TimeoutError",
    "TooDeepError",
    "TooLargeError",
    "UnsupportedTypeError",
    "__version__",
    "decode",
    "encode",
]
