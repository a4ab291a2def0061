"""The package rules of docs/architecture.md, checked on the source: components never import each
other (they share only qbus and hw), hw imports no component, and the core imports only the schema."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = {"firmware_bridge", "kiosk", "display", "counter_panel", "web"}
OURS = COMPONENTS | {"hw", "qbus", "qcore", "qserver", "qcall", "qhistory", "qhq"}
ALLOWED = {
    "qcore": {"qbus"},
    "qbus": set(),
    "qserver": {"qbus", "qcore"},
    # The history: facts from a day's events (replayed through a fresh core), the store, reports.
    "qhistory": {"qbus", "qcore"},
    "hw": {"qbus"},
    # Head office reads the branches' schema and keeps their archived days in the history's own
    # store and fact model (qhistory); never a branch component, never the web pages.
    "qhq": {"qbus", "qhistory"},
    # web/ includes head office's pages (web/hq): they too import only the schema; what they show
    # of head office's database comes through the source `qcall hq web` wires (qcall.hq_web).
    **{c: {"qbus", "hw"} for c in COMPONENTS},
}


def all_imports(package: str) -> dict[str, set[str]]:
    """Top-level names each module of `package` imports (anywhere in the module, lazily too)."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
        out[str(path.relative_to(ROOT))] = found
    return out


def imports_of(package: str) -> dict[str, set[str]]:
    """Our own top-level packages each module of `package` imports."""
    return {mod: (found & OURS) - {package} for mod, found in all_imports(package).items()}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_architecture_allows(package: str) -> None:
    wrong = {mod: sorted(found - ALLOWED[package]) for mod, found in imports_of(package).items()
             if found - ALLOWED[package]}
    assert wrong == {}, f"{package} may import only {sorted(ALLOWED[package])}"


DATABASES = {"sqlite3", "psycopg", "psycopg_pool"}


def test_the_web_pages_open_no_database() -> None:
    """The branch's pages and head office's (web/hq) read the history store and head office's
    PostgreSQL only through the sources qcall hands them (qcall.web_reports, qcall.hq_web)."""
    found = {mod: sorted(f & DATABASES) for mod, f in all_imports("web").items() if f & DATABASES}
    assert found == {}


IMPURE = {"time", "threading", "os", "socket", "sqlite3", "datetime", "random", "subprocess", "pathlib",
          "logging", "asyncio", "multiprocessing", "io", "zoneinfo"}


def test_the_core_is_pure() -> None:
    """No I/O, no threads, no wall clock: time is passed in, so replay and property tests hold."""
    stdlib = {mod: found for mod, found in all_imports("qcore").items() if found & IMPURE}
    assert stdlib == {}

