"""WASI 0.2 host interfaces implemented in Python: `wasi:io`, clocks, cli stdio, `wasi:http`, deny-all
filesystem and sockets. `build_linker(engine, component)` links a component against them (and
wasmtime's own random, environment, exit and terminal); `HostState` is one instance's state, attached to
its store with `attach(store, state)` around each export call (host calls find it from their store)."""

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
from ._state import HOST_RESOURCES, DeadlineHit, HostState, HttpSettings, Res, attach, bound, current
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
    "HttpSettings",
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
    "attach",
    "bound",
    "build_linker",
    "current",
    "error_code",
    "wasi_version",
]
