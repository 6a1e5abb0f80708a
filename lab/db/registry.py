"""Which db a test runs: a built-in name, a Python class, or a TOML file naming one.

``--db`` takes ``aspen`` or ``etcd``; ``package.module:Class`` or ``path/to/adapter.py:Class``
(a class implementing `lab.db.base.DB`, built with no arguments); or ``path/to/adapter.toml``::

    [db]
    adapter = "adapters/tinykv.py:TinyKV"   # relative paths are from the TOML file
    [db.options]                            # keyword arguments for the class
    binary = "/usr/local/bin/tinykv"

so an SRE puts their own system under the lab without editing it (see docs/byo-db.md).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import tomllib
from pathlib import Path
from typing import Any

from lab.db.base import DB

BUILTIN = {"aspen": "lab.db.aspen:AspenDB", "etcd": "lab.db.etcd:EtcdDB"}
REQUIRED = ("name", "peer_links", "runtimes", "unsupported_faults", "setup", "start_node",
            "status", "leader", "client", "teardown")  # fmt: skip


class DBSpecError(ValueError):
    """``--db`` names nothing the lab can load (the message says what and why)."""


def load_db(spec: str) -> DB:
    if spec.endswith(".toml"):
        return _from_toml(Path(spec))
    return _build(BUILTIN.get(spec, spec), {}, Path.cwd(), spec)


def _from_toml(path: Path) -> DB:
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DBSpecError(f"--db {path}: {e}") from e
    table = doc.get("db")
    if not isinstance(table, dict) or not isinstance(table.get("adapter"), str):
        raise DBSpecError(f'--db {path}: needs a [db] table with adapter = "module:Class"')
    options = table.get("options", {})
    if not isinstance(options, dict):
        raise DBSpecError(f"--db {path}: [db.options] must be a table")
    return _build(table["adapter"], options, path.parent, str(path))


def _build(target: str, options: dict[str, Any], base: Path, spec: str) -> DB:
    module_name, _, class_name = target.rpartition(":")
    if not module_name or not class_name:
        known = ", ".join(BUILTIN)
        raise DBSpecError(
            f"--db {spec}: not a known db ({known}), a module:Class, nor a .toml adapter"
        )
    try:
        if module_name.endswith(".py"):
            file = (base / module_name).resolve()
            name = f"lab_adapter_{file.stem}"
            module_spec = importlib.util.spec_from_file_location(name, file)
            if module_spec is None or module_spec.loader is None:
                raise DBSpecError(f"--db {spec}: cannot load {file}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        db = getattr(module, class_name)(**options)
    except DBSpecError:
        raise
    except Exception as e:
        raise DBSpecError(f"--db {spec}: {type(e).__name__}: {e}") from e
    missing = [attr for attr in REQUIRED if not hasattr(db, attr)]
    if missing:
        raise DBSpecError(f"--db {spec}: {class_name} lacks {', '.join(missing)} (see DB)")
    return db  # type: ignore[no-any-return]
