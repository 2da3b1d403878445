"""`wasmhive inspect`: what a module or component contains (sections, imports/exports, producers,
features, and a component's WIT world), as tables for people or `--json` for programs."""

from __future__ import annotations

import json
import os

import click
import wasmtime
from rich.table import Table
from rich.text import Text

from ..errors import WasmhiveError
from ..runtime import Runtime
from ..runtime._inspect import Inspection, inspect
from ..runtime._wasmparse import Component, CoreModule
from ._common import console
from ._terminal import plain, printable


def describe(file: str, *, world: bool = True, cache: bool | str | os.PathLike[str] = True) -> Inspection:
    """Parse FILE and, for a component, read its WIT world through wasmtime (compiled via the cache).

    `cache`: True for the default compile cache, False for none, or a cache directory.
    """
    info = inspect(file)
    if info.kind == "component" and world:
        from ..component._wit import world_of

        try:
            with Runtime(cache=None if cache is True else cache) as rt:
                compiled = rt.load(info.binary, name=info.source)
                p = info.parsed if isinstance(info.parsed, Component) else Component(0, 0)
                info.world = world_of(compiled.component, rt.engine, type_names=p.type_names,
                                      func_hints=p.func_hints, field_hints=p.field_hints)
        except WasmhiveError as e:
            # The sections are still worth showing when wasmtime refuses the component.
            info.world_error = str(e)
        except (TypeError, wasmtime.WasmtimeError) as e:
            # A type the installed bindings cannot reflect (newer component-model proposals).
            info.world_error = f"cannot read the component's types: {str(e).splitlines()[0] if str(e) else e!r}"
    return info


@click.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of tables.")
@click.option("--no-world", is_flag=True, help="Skip compiling a component to read its WIT world.")
@click.option("--no-cache", is_flag=True, help="Do not use the on-disk compile cache.")
def inspect_cmd(file: str, as_json: bool, no_world: bool, no_cache: bool) -> None:
    """Show what FILE (.wasm or .wat, core module or component) contains.

    Kind, size and SHA-256; sections with sizes; imports and exports with their types; custom
    sections and the producers (language, toolchain, SDK); WebAssembly features the code uses;
    and for a component, its core modules and its WIT world.
    """
    info = describe(file, world=not no_world, cache=not no_cache)
    if as_json:
        click.echo(json.dumps(info.to_json(), indent=2))
        return
    _print(info)


def _fmt_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


def _print(info: Inspection) -> None:
    # Every string read from the module (names, producers, features, the WIT world, even the file
    # name) goes through `plain`: shown as written, never as rich markup or terminal control codes.
    p = info.parsed
    head = Table.grid(padding=(0, 2))
    head.add_row(_label("file"), plain(info.source))
    head.add_row(_label("kind"), ("core module" if info.kind == "module" else "component")
                 + (" (from text)" if info.from_text else ""))
    head.add_row(_label("size"), f"{info.size} bytes ({_fmt_size(info.size)})")
    head.add_row(_label("sha256"), info.sha256)
    console.print(head)
    _sections(p.sections, info.size)
    if isinstance(p, CoreModule):
        _module(p, "")
    else:
        _component(info, p)


def _label(text: str, style: str = "bold") -> Text:
    return Text(text, style=style)


def _line(label: str, value: str, style: str = "bold") -> Text:
    """`label value` on one line: the label styled, the value shown exactly."""
    return Text.assemble(_label(label, style), " ", plain(value))


def _producers(values: list[dict[str, str]]) -> str:
    return ", ".join(f"{v.get('name', '')} {v.get('version', '')}".strip() for v in values)


def _sections(sections: list, total: int, title: str = "sections") -> None:  # type: ignore[type-arg]
    t = Table(title=title, title_justify="left", show_edge=False)
    for col, just in (("id", "right"), ("section", "left"), ("offset", "right"), ("size", "right"),
                      ("%", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for s in sections:
        name = f"custom \"{s.name}\"" if s.id == 0 else s.name
        t.add_row(str(s.id), plain(name), f"0x{s.offset:x}", str(s.size), f"{100 * s.size / max(total, 1):.1f}")
    console.print(t)


def _module(m: CoreModule, prefix: str) -> None:
    if m.imports:
        t = Table(title=f"{prefix}imports ({len(m.imports)})", title_justify="left", show_edge=False)
        for col in ("module", "name", "kind", "type"):
            t.add_column(col)
        for i in m.imports:
            t.add_row(plain(i.module or ""), plain(i.name), i.kind, plain(i.type))
        console.print(t)
    if m.exports:
        t = Table(title=f"{prefix}exports ({len(m.exports)})", title_justify="left", show_edge=False)
        for col in ("name", "kind", "type"):
            t.add_column(col)
        for e in m.exports:
            t.add_row(plain(e.name), e.kind, plain(e.type))
        console.print(t)
    facts = Table.grid(padding=(0, 2))
    facts.add_row("functions", f"{m.functions} defined, {sum(i.kind == 'func' for i in m.imports)} imported")
    if m.memories:
        facts.add_row("memories", ", ".join(mem.wat() for mem in m.memories))
    if m.tables:
        facts.add_row("tables", plain(", ".join(m.tables)))
    facts.add_row("globals", str(len(m.globals)))
    facts.add_row("data / elements", f"{m.data} / {m.elements}")
    if m.start is not None:
        facts.add_row("start", f"func {m.start}")
    for field_name, values in m.producers.items():
        facts.add_row(plain(f"producers: {field_name}"), plain(_producers(values)))
    if m.target_features:
        facts.add_row("target_features", plain(" ".join(m.target_features)))
    facts.add_row("features used", plain(", ".join(m.features) or "(MVP only)"))
    if m.unknown:
        facts.add_row(_label("not decoded", "yellow"),
                      plain("; ".join(m.unknown[:3]) + (" ..." if len(m.unknown) > 3 else "")))
    console.print(facts)


def _component(info: Inspection, c: Component) -> None:
    counts = ", ".join(f"{k}: {v}" for k, v in c.counts.items())
    if counts:
        console.print(_line("items", counts))
    for field_name, values in c.producers.items():
        console.print(_line(f"producers: {field_name}", _producers(values)))
    if c.modules:
        t = Table(title=f"core modules ({len(c.modules)})", title_justify="left", show_edge=False)
        for col, just in (("#", "right"), ("offset", "right"), ("size", "right"), ("imports", "right"),
                          ("exports", "right"), ("language / toolchain", "left"), ("features", "left")):
            t.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
        for n, m in enumerate(c.modules):
            who = [f"{v.get('name', '')} {v.get('version', '')}".strip() for k in ("language", "processed-by")
                   for v in m.producers.get(k, [])]
            t.add_row(str(n), f"0x{m.offset:x}", str(m.size), str(len(m.imports)), str(len(m.exports)),
                      plain(", ".join(who)), plain(", ".join(m.features)))
        console.print(t)
    if c.components:
        console.print(_line("nested components", str(len(c.components))))
    if info.world is not None:
        console.print(_label("WIT world"))
        console.print(Text(printable(info.world.to_wit(), keep_newlines=True)), end="", soft_wrap=True)
    elif info.world_error:
        console.print(_line("WIT world unavailable:", info.world_error, "yellow"))
    else:
        console.print(_line("imports:", ", ".join(n for n, _ in c.imports), ""))
        console.print(_line("exports:", ", ".join(n for n, _ in c.exports), ""))
