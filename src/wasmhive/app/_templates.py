"""Project templates for `wasmhive new`: a folder per template under `wasmhive/templates/`.

Each template has `template.toml` (a `description`, optional `wit_deps`: standard WIT packages copied
into the new project's `wit/deps/` from installed packages) and a `content/` tree whose text files may
say `{{project-name}}`. Standard WIT is never stored in templates: it is copied at generation time.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

__all__ = ["TEMPLATES_DIR", "Template", "generate", "list_templates"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Template:
    """A template: its name, one-line description and the standard WIT it needs."""

    name: str
    description: str
    path: Path
    wit_deps: list[str] = field(default_factory=list)


def list_templates() -> list[Template]:
    """Every installed template, by name."""
    out = []
    for d in sorted(TEMPLATES_DIR.iterdir()) if TEMPLATES_DIR.is_dir() else []:
        meta = d / "template.toml"
        if meta.is_file():
            spec = tomllib.loads(meta.read_text(encoding="utf-8"))
            out.append(Template(d.name, str(spec.get("description", "")), d, list(spec.get("wit_deps", []))))
    return out


def _wat_len(text: str) -> str:
    """Fill `{{wat-len}}` with the byte length of the module's first data string (escapes decoded)."""
    m = re.search(r'\(data \(i32\.const \d+\) "((?:[^"\\]|\\.)*)"\)', text)
    if not m:
        return text
    raw = re.sub(r"\\(n|t|\\|\"|[0-9a-fA-F]{2})", lambda e: "x", m.group(1))
    return text.replace("{{wat-len}}", str(len(raw.encode())))


def generate(template: str, name: str, dest: Path, *, force: bool = False) -> Path:
    """Create project `name` from `template` in directory `dest` (which must not exist or be empty)."""
    by_name = {t.name: t for t in list_templates()}
    if template not in by_name:
        raise ConfigError(f"no template named {template!r} (available: {', '.join(sorted(by_name))})")
    if not _NAME.match(name):
        raise ConfigError(f"project name {name!r}: use lowercase letters, digits and '-', starting with a letter")
    t = by_name[template]
    if dest.exists() and any(dest.iterdir()) and not force:
        raise ConfigError(f"{dest} already exists and is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    content = t.path / "content"
    for src in sorted(content.rglob("*")):
        rel = Path(str(src.relative_to(content)).replace("{{project-name}}", name))
        out = dest / rel
        if src.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        data = src.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            shutil.copyfile(src, out)
            continue
        text = text.replace("{{project-name}}", name)
        if src.suffix == ".wat":
            text = _wat_len(text)
        out.write_text(text, encoding="utf-8")
    if t.wit_deps:
        from .toolchains import assemble_wit

        assemble_wit(dest / "wit", {}, t.wit_deps)
    return dest
