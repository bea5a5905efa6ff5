"""The RPC contract between the daemon and its clients: every method the window (`app/ui`) and the command line
(`app/cli/`) call is one the daemon registers, with parameter names its schema knows, and every parameter the
schema requires is given. Read from the clients' source (each call site), so a renamed method or parameter fails
here and not when a volunteer clicks."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.daemon.handlers import register_all
from app.daemon.rpc_server import BUILTIN_METHODS
from app.rpc.schema import Param
from app.ui import api

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = sorted([*(ROOT / "app" / "ui").rglob("*.py"), *(ROOT / "app" / "cli").rglob("*.py")])


class _Registry:
    """Stands where the RpcServer stands in `register_all`: keeps each method's schema."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Param]] = {}

    def register(self, name: str, handler: object, params: dict[str, Param] | None = None) -> None:
        assert name not in self.schemas, f"{name} registered twice"
        self.schemas[name] = dict(params or {})


class _Services:
    """The daemon's services as registration sees them: handlers keep references, nothing is called."""

    def __getattr__(self, name: str) -> _Services:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("registering the handlers must not call the daemon's services")


@dataclass(frozen=True)
class CallSite:
    where: str
    method: str
    keys: tuple[frozenset[str], ...] | None  # the parameter sets it may send; None: this reader cannot follow them
    complete: bool  # one plain dict literal: exactly the parameters the call sends


def _strings(node: ast.AST, func: ast.AST, module: ast.Module) -> list[str] | None:
    """The method names an expression can be: a literal, an `api.` constant, a local dict lookup, or an f-string
    over a name that an `in (...)` test bounds."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "api":
        value = getattr(api, node.attr, None)
        return [value] if isinstance(value, str) else None
    if isinstance(node, ast.Name):
        found: list[str] = []
        for sub in ast.walk(func):
            if isinstance(sub, ast.Assign) and any(isinstance(t, ast.Name) and t.id == node.id for t in sub.targets):
                value = sub.value.value if isinstance(sub.value, ast.Subscript) else sub.value
                if isinstance(value, ast.Dict):
                    found += [v.value for v in value.values if isinstance(v, ast.Constant)]
                elif isinstance(value, ast.IfExp):
                    found += [
                        *(_strings(value.body, func, module) or []),
                        *(_strings(value.orelse, func, module) or []),
                    ]
                else:
                    found += _strings(value, func, module) or []
        return found or None
    if isinstance(node, ast.JoinedStr):
        parts = [v for v in node.values if isinstance(v, ast.FormattedValue)]
        if len(parts) != 1 or not isinstance(parts[0].value, ast.Name):
            return None
        var = parts[0].value.id
        for sub in ast.walk(func):
            if (
                isinstance(sub, ast.Compare)
                and isinstance(sub.left, ast.Name)
                and sub.left.id == var
                and isinstance(sub.ops[0], ast.In)
                and isinstance(sub.comparators[0], ast.Tuple)
            ):
                choices = [c.value for c in sub.comparators[0].elts if isinstance(c, ast.Constant)]
                return [ast.unparse(node)[2:-1].replace("{" + var + "}", c) for c in choices]
    return None


def _dict_keys(node: ast.AST) -> frozenset[str] | None:
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys):
        return frozenset(k.value for k in node.keys if isinstance(k, ast.Constant))
    return None


def _keys(node: ast.AST | None, func: ast.AST, line: int) -> tuple[tuple[frozenset[str], ...] | None, bool]:
    """The parameter sets a params expression (at `line`) can hold, and whether it is one plain dict literal."""
    if node is None:
        return (frozenset(),), True
    if (keys := _dict_keys(node)) is not None:
        return (keys,), True
    if isinstance(node, ast.Name):  # the local's last assignment before the call, plus `params["k"] = ...` after it
        assigns = [
            sub
            for sub in ast.walk(func)
            if isinstance(sub, (ast.Assign, ast.AnnAssign))
            and sub.lineno < line
            and any(
                isinstance(t, ast.Name) and t.id == node.id
                for t in (sub.targets if isinstance(sub, ast.Assign) else [sub.target])
            )
        ]
        if not assigns or (last := max(assigns, key=lambda a: a.lineno)).value is None:
            return None, False
        branches = [last.value.body, last.value.orelse] if isinstance(last.value, ast.IfExp) else [last.value]
        alternatives = [
            frozenset() if isinstance(b, ast.Constant) and b.value is None else _dict_keys(b) for b in branches
        ]
        if any(a is None for a in alternatives):
            return None, False
        added = {
            t.slice.value
            for sub in ast.walk(func)
            if isinstance(sub, ast.Assign) and last.lineno < sub.lineno < line
            for t in sub.targets
            if isinstance(t, ast.Subscript)
            and isinstance(t.value, ast.Name)
            and t.value.id == node.id
            and isinstance(t.slice, ast.Constant)
        }
        return tuple(a | added for a in alternatives if a is not None), False
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "api"
    ):  # a params builder of app/ui/api.py: every key it may set
        tree = ast.parse((ROOT / "app" / "ui" / "api.py").read_text(encoding="utf-8"))
        builder = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == node.func.attr)
        returned = next(r for r in ast.walk(builder) if isinstance(r, ast.Return) and r.value is not None)
        return _keys(returned.value, builder, returned.lineno + 1)[0], False
    return None, False


def _functions(tree: ast.Module) -> Iterator[tuple[ast.AST, ast.Call]]:
    """Every call in the module with the innermost function around it (the module itself at top level)."""

    def visit(node: ast.AST, func: ast.AST) -> Iterator[tuple[ast.AST, ast.Call]]:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Call):
                yield func, child
            yield from visit(child, inner)

    yield from visit(tree, tree)


def call_sites() -> list[CallSite]:
    sites = []
    for path in CLIENTS:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func, call in _functions(tree):
            # `<client or model>.call(method, params)` in the window, `call(args, method, params)` in the CLI
            if isinstance(call.func, ast.Attribute) and call.func.attr == "call" and call.args:
                method_arg, rest = call.args[0], call.args[1:]
            elif isinstance(call.func, ast.Name) and call.func.id == "call" and len(call.args) >= 2:
                method_arg, rest = call.args[1], call.args[2:]
            else:
                continue
            if (methods := _strings(method_arg, func, tree)) is None:
                continue  # a generic wrapper passing its own argument on (RpcClient.call, app.cli.common.call)
            keys, complete = _keys(rest[0] if rest else None, func, call.lineno)
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            sites += [CallSite(where, m, keys, complete) for m in methods]
    return sites


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict[str, Param]]:
    registry = _Registry()
    register_all(registry, _Services())  # type: ignore[arg-type]
    return registry.schemas


def test_the_reader_finds_the_clients_calls() -> None:
    sites = {(s.method, s.keys) for s in call_sites()}
    assert ("wallet.send", (frozenset({"to", "amount", "fee", "memo", "account", "password"}),)) in sites  # a literal
    assert ("wallet.export", (frozenset({"what", "password", "role", "destination"}),)) in sites  # api.export_params
    assert ("mine.state", (frozenset({"mode"}), frozenset())) in sites  # cli: one of a dict's methods, params by IfExp
    methods = {m for m, _ in sites}
    assert {"mine.start", "mine.state", "wallet.lock", "wallet.balance", "status", "task.history"} <= methods


def test_every_method_the_window_and_the_cli_call_exists_with_those_parameters(schemas) -> None:  # type: ignore[no-untyped-def]
    problems = []
    for site in call_sites():
        if site.method in BUILTIN_METHODS:
            continue
        schema = schemas.get(site.method)
        if schema is None:
            problems.append(f"{site.where}: the daemon has no method {site.method!r}")
            continue
        if site.keys is None:
            continue
        if not any(keys <= set(schema) for keys in site.keys):  # one of the sets it may send must fit
            unknown = sorted(min(site.keys, key=lambda k: len(k - set(schema))) - set(schema))
            problems.append(f"{site.where}: {site.method} has no parameter {unknown} (it takes {sorted(schema)})")
        missing = sorted(n for n, p in schema.items() if p.required and n not in site.keys[0])
        if site.complete and missing:
            problems.append(f"{site.where}: {site.method} needs {missing}")
    assert not problems, "\n".join(problems)


def test_every_event_the_window_subscribes_to_is_one_the_daemon_sends() -> None:
    from app.daemon.events import EVENT_TYPES

    assert set(api.ALL_EVENTS) <= set(EVENT_TYPES), sorted(set(api.ALL_EVENTS) - set(EVENT_TYPES))
