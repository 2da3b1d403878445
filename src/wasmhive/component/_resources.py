"""Resource handles: a guest resource as a Python object with methods, closed by `with` or `close()`."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ._convert import BadValue

__all__ = ["ResourceClass", "ResourceHandle"]


class ResourceHandle:
    """A handle to a resource owned (or borrowed) from a component instance.

    Methods of the WIT resource are attributes (`counter.increment(1)`); `close()` (or leaving a
    `with` block) drops an owned handle, running the guest's destructor. Passing the handle as an
    `own<...>` argument moves it into the guest: the handle cannot be used afterwards.
    """

    __slots__ = ("__weakref__", "_alive", "_instance", "_owned", "_raw", "_resource")

    def __init__(self, raw: Any, instance: Any, resource: str, owned: bool) -> None:
        self._raw = raw
        self._instance = instance
        self._resource = resource
        self._owned = owned
        self._alive = True

    @property
    def resource(self) -> str:
        """The WIT name of the resource type."""
        return self._resource

    @property
    def closed(self) -> bool:
        return not self._alive

    @property
    def _wasmhive_resource(self) -> Any:
        if not self._alive:
            raise BadValue(f"the {self._resource} handle was closed or moved into the guest")
        return self._raw

    def _wasmhive_moved(self) -> None:
        self._alive = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        method = self._instance._resource_method(self._resource, name)
        if method is None:
            raise AttributeError(f"resource {self._resource} has no method {name!r}")
        handle = self

        def call(*args: Any, **kwargs: Any) -> Any:
            return method(handle, *args, **kwargs)
        call.__name__ = name
        call.__doc__ = method.__doc__
        return call

    def close(self) -> None:
        """Drop the handle: an owned resource's destructor runs in the guest now."""
        if self._alive:
            self._alive = False
            if self._owned and self._instance._store is not None:
                try:
                    self._raw.drop(self._instance._store)
                except Exception as e:  # a trap in the guest's destructor
                    raise self._instance._translate(e) from None

    def __enter__(self) -> ResourceHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "owned" if self._owned else "borrowed"
        return f"<{self._resource} handle ({state}{'' if self._alive else ', closed'})>"


class ResourceClass:
    """`exports.<iface>.Counter`: call it to construct, static functions are attributes."""

    def __init__(self, binder: Any, iface: str | None, resource: str) -> None:
        self._binder = binder  # (iface, function name) -> callable or None
        self._iface = iface
        self._resource = resource

    def __call__(self, *args: Any, **kwargs: Any) -> ResourceHandle:
        ctor = self._binder(self._iface, f"[constructor]{self._resource}")
        if ctor is None:
            raise ConfigError(f"resource {self._resource} has no constructor")
        return ctor(*args, **kwargs)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        f = self._binder(self._iface, f"[static]{self._resource}.{name.replace('_', '-')}")
        if f is None:
            raise AttributeError(f"resource {self._resource} has no static function {name!r}")
        return f

    def __repr__(self) -> str:
        return f"<resource {self._resource} of {self._iface}>"
