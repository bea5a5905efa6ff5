"""docs/RPC.md is checked against the daemon's registered schemas, so the document cannot drift from the code.

Every method the daemon registers has a row in the methods table (or a heading, for the built-ins) and
every row names a registered method; every parameter of a method's schema is named in its row, every
`name`=default in a row is a parameter of that schema, and every parameter the schema marks secret is one
the document's "Secret params" paragraph names.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from app.daemon.events import EVENT_TYPES
from app.daemon.handlers import register_all
from app.daemon.rpc_server import BUILTIN_METHODS
from app.rpc.schema import Param
from tests.daemon.test_rpc_contract import _Registry, _Services

DOC = Path(__file__).resolve().parents[2] / "docs" / "RPC.md"
ROW = re.compile(r"^\| ((?:`[a-z_.]+`(?: / )?)+) \| (.*?) \| ")
DEFAULTED = re.compile(r"`([a-z_]+)`=")


def registered() -> dict[str, dict[str, Param]]:
    registry = _Registry()
    register_all(registry, _Services())  # type: ignore[arg-type]
    return registry.schemas


def documented_rows() -> dict[str, str]:
    """Method name -> its params cell, from the methods tables."""
    rows: dict[str, str] = {}
    text = DOC.read_text(encoding="utf-8")
    for line in text[text.index("## Daemon methods") :].splitlines():
        match = ROW.match(line)
        if match is None:
            continue
        for name in re.findall(r"`([a-z_.]+)`", match.group(1)):
            rows[name] = match.group(2)
    return rows


def test_every_registered_method_is_documented_and_every_documented_one_exists() -> None:
    schemas = registered()
    rows = documented_rows()
    text = DOC.read_text(encoding="utf-8")
    assert sorted(set(schemas) - set(rows)) == [], "registered but missing from docs/RPC.md"
    assert sorted(set(rows) - set(schemas)) == [], "documented but not registered"
    for builtin in BUILTIN_METHODS:
        assert f"### `{builtin}(" in text, f"built-in method {builtin} has no heading"


def test_each_row_names_exactly_its_schema_parameters() -> None:
    schemas = registered()
    for method, cell in documented_rows().items():
        named = set(re.findall(r"`([a-z_]+)`", cell))
        missing = set(schemas[method]) - named
        assert not missing, f"{method}: parameters {sorted(missing)} are not in its row"
        unknown = set(DEFAULTED.findall(cell)) - set(schemas[method])
        assert not unknown, f"{method}: the row gives defaults for {sorted(unknown)}, which it does not take"


def test_the_secret_parameters_are_the_ones_the_document_names() -> None:
    secret = {name for schema in registered().values() for name, p in schema.items() if p.secret}
    text = DOC.read_text(encoding="utf-8")
    paragraph = text[text.index("**Secret params.**") :].split("\n\n")[0]
    assert secret == set(re.findall(r"`([a-z_]+)`", paragraph.split("is marked secret")[0]))


def test_every_event_kind_is_documented_with_its_fields() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Events") : text.index("## Methods")]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z_]+)` +\| (.*)\|$", section, re.M)}
    assert set(rows) == set(EVENT_TYPES), "the events table and app/daemon/events.py name different kinds"
    for kind, cls in EVENT_TYPES.items():
        fields = {f.name for f in dataclasses.fields(cls)}
        named = set(re.findall(r"`([a-z_]+)`", rows[kind]))
        assert fields <= named, f"event {kind}: fields {sorted(fields - named)} are not in its row"
