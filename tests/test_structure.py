"""The shape of the code that import-linter cannot see: clients built in one place, core's modules
short enough to read. (Layers and rooms: `lint-imports`, run by `make test` and `make lint`.)"""

from __future__ import annotations

import re

from tests.conftest import ROOT

CLIENTS = re.compile(r"\b(PrometheusClient|AlertmanagerClient|KafkaReader|Publisher|ServiceClient)\(")
LONGEST_CORE_MODULE = 420  # lines: a module past this holds two things


def _sources(folder: str) -> list:
    return sorted((ROOT / folder).rglob("*.py"))


def test_every_client_is_built_in_the_clients_package() -> None:
    built_elsewhere = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
                       for path in _sources("volctl") if "clients" not in path.relative_to(ROOT / "volctl").parts
                       for number, line in enumerate(path.read_text().splitlines(), 1)
                       if CLIENTS.search(line) and not line.lstrip().startswith(("class ", "def "))]
    assert not built_elsewhere, "build clients in volctl/clients/built.py:\n" + "\n".join(built_elsewhere)


def test_core_modules_stay_short_and_in_their_rooms() -> None:
    core = ROOT / "volctl" / "core"
    loose = [p.name for p in core.glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"core's modules live in its rooms (model, operations, monitoring): {loose}"
    long = {str(p.relative_to(ROOT)): n for p in _sources("volctl/core")
            if (n := len(p.read_text().splitlines())) > LONGEST_CORE_MODULE}
    assert not long, f"split these by what they hold: {long}"


def test_every_command_is_behind_the_one_error_boundary() -> None:
    """`@boundary` was written by hand on 33 commands (a new one without it showed a traceback):
    the app covers every command and group callback in one place, and no module does it itself."""
    from volctl.cli import _boundary
    from volctl.cli.app import app

    def callbacks(typer_app):  # type: ignore[no-untyped-def]
        yield from (info.callback for info in typer_app.registered_commands)
        for group in typer_app.registered_groups:
            if group.typer_instance.registered_callback is not None:
                yield group.typer_instance.registered_callback.callback
            yield from callbacks(group.typer_instance)

    found = list(callbacks(app))
    assert len(found) > 30
    assert all(getattr(c, "__wrapped__", None) is not None and c.__code__ is _boundary.boundary(len).__code__
               for c in found), [c.__name__ for c in found if getattr(c, "__wrapped__", None) is None]
    assert not [p.name for p in (ROOT / "volctl" / "cli").glob("*.py") if "@boundary" in p.read_text()]
