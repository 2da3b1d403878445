"""A component's `files`, read-only through `wasi:filesystem` (wasi:http components)."""

from ._host import FilesFactor, FilesInstance

__all__ = ["FilesFactor", "FilesInstance"]
