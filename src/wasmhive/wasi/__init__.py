"""WASI 0.2 host interfaces implemented in Python: `wasi:io`, clocks, cli stdio, `wasi:http`, deny-all
filesystem and sockets. `build_linker(engine, component)` links a component against them (and
wasmtime's own random, environment, exit and terminal); `HostState` is one instance's state, bound to
the running thread with `bound(state)` around each export call."""

from ._fields import FORBIDDEN, Fields, HeaderError
from ._http_types import (
    IncomingBody,
    IncomingRequest,
    IncomingResponse,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
    error_code,
)
from ._linker import build_linker, wasi_version
from ._outgoing import OutboundPolicyLike
from ._state import HOST_RESOURCES, DeadlineHit, HostState, Res, bound, current
from ._streams import BodyChannel, BufferInput, ChannelInput, IoError, StreamClosed, Waker

__all__ = [
    "FORBIDDEN",
    "HOST_RESOURCES",
    "BodyChannel",
    "BufferInput",
    "ChannelInput",
    "DeadlineHit",
    "Fields",
    "HeaderError",
    "HostState",
    "IncomingBody",
    "IncomingRequest",
    "IncomingResponse",
    "IoError",
    "OutboundPolicyLike",
    "OutgoingBody",
    "OutgoingResponse",
    "Res",
    "ResponseOutparam",
    "StreamClosed",
    "Waker",
    "bound",
    "build_linker",
    "current",
    "error_code",
    "wasi_version",
]
