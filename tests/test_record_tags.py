"""Every record's TAG is unique across the protocol (app/core/encoding.py: the tag picks the type).

Two records sharing a tag would decode one as the other wherever a union admits both; branches that
each pick a "free" tag meet here at merge time rather than on the wire. The window (app.ui, Qt) holds
no records and is not imported.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict
from collections.abc import Iterator

import app
from app.core.encoding import Record


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_record_tags_are_unique() -> None:
    for module in pkgutil.walk_packages(app.__path__, "app."):
        if module.name.startswith("app.ui") or module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)
    owners: dict[int, set[str]] = defaultdict(set)
    for cls in _subclasses(Record):
        if cls.TAG != Record.TAG:  # abstract bases (Request, Signed, ...) keep the unset tag
            owners[cls.TAG].add(f"{cls.__module__}.{cls.__qualname__}")
    assert {tag: names for tag, names in owners.items() if len(names) > 1} == {}
    assert {146, 147, 148, 149, 150} <= owners.keys()
