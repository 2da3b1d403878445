"""The SQLite test app (`tests/app/sqlite`): a spin-sdk 3.4.1 guest, its manifest, runtime config and
migration, copied into a temporary directory and built (the build is cached by source hash)."""

from __future__ import annotations

import shutil
from pathlib import Path

from app_fixtures import build_spin_sdk_app

HERE = Path(__file__).parent / "app" / "sqlite"


def sqlite_app(dest: Path, *, runtime_config: bool = True) -> Path:
    """A copy of the SQLite app in `dest`, built; its `spin.toml`. Without `runtime_config` the app has no
    `runtime-config.toml` (so its `other` database is not configured)."""
    for name in ("spin.toml", "app.py", "migration.sql") + (("runtime-config.toml",) if runtime_config else ()):
        shutil.copy(HERE / name, dest / name)
    build_spin_sdk_app(dest / "app.py", dest / "app.wasm")
    return dest / "spin.toml"
