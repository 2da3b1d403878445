"""The life cycle every capability ("factor") follows, and the seam the HTTP trigger calls.

A capability is one host interface family offered to guests (key-value, variables, ...). Its life cycle:

1. `link(root, state_of)` — once per component linker: define its WIT functions and resources on the
   linker's root instance. Host functions find their per-request state with `state_of()`, a
   callable the trigger supplies (it returns the `InstanceContext` of the instance whose guest is
   calling on this thread; a guest's host calls all happen on the thread that called its export).
2. `configure(app, configured)` — once per app: validate the manifest's and runtime config's settings for this
   capability (unknown stores, bad hosts, missing variables are rejected here, at start-up) and build
   the shared state (backends, resolved values).
3. `prepare(app_state, component_id)` — once per instance (per request): the small state one instance
   sees, e.g. the stores this component may open and its open handles.

Nothing here touches HTTP; the trigger only calls these three methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from ..appconfig import AppConfig

__all__ = ["Factor", "InstanceContext", "InstanceState", "StateOf"]


@dataclass
class InstanceContext:
    """Per-instance state of every capability, keyed by capability name; owned by the trigger's request."""

    component_id: str
    states: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        """Release per-instance resources (open handles) when the instance's store is dropped."""
        for state in self.states.values():
            close = getattr(state, "close", None)
            if close is not None:
                close()


# state_of() -> the InstanceContext of the instance whose guest is making the host call (found from its store).
StateOf = Callable[[], InstanceContext]
S = TypeVar("S")


class InstanceState(Generic[S]):
    """One factor's per-instance state, typed: `state()` is what its `prepare` made for the calling instance."""

    def __init__(self, name: str, state_of: StateOf) -> None:
        self.name, self.state_of = name, state_of

    def __call__(self) -> S:
        state: S = self.state_of().states[self.name]
        return state


class Factor(Protocol):
    """One capability. See the module docstring for the life cycle."""

    name: str
    interfaces: tuple[str, ...]  # the import names `link` defines

    def link(self, root: Any, state_of: StateOf) -> None:
        """Define this capability's interfaces on a component linker's root `LinkerInstance`."""

    def configure(self, app: AppConfig, configured: Mapping[str, Any] | None = None) -> Any:
        """Validate the app's config for this capability and build its shared per-app state.

        `configured` holds the states of the capabilities configured before this one (registry order),
        e.g. outbound HTTP renders `{{ var }}` from the resolved variables.
        """

    def prepare(self, app_state: Any, component_id: str) -> Any:
        """The per-instance state for one instance of `component_id`."""
