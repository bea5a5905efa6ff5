"""app/rpc/contract.py is the one table of methods and schemas: the daemon registers exactly it, and the
values it copies from modules it must not import (torch, the config) stay equal to their sources."""

from __future__ import annotations

from app import config as cfg
from app.daemon.handlers import register_all
from app.rpc import contract
from tests.daemon.test_rpc_contract import _Registry, _Services


def test_the_daemon_registers_every_method_of_the_contract_with_its_schema() -> None:
    registry = _Registry()
    register_all(registry, _Services())  # type: ignore[arg-type]
    assert registry.schemas == contract.METHODS


def test_copied_values_match_their_sources() -> None:
    from app.miner import packing  # imports torch: fine in a test, not in app/rpc

    assert contract.MODES == {m.value for m in cfg.MiningMode}
    assert (contract.TEXT_CONTEXT_DEFAULT, contract.TEXT_CONTEXT_MAX) == (packing.DEFAULT_CONTEXT, packing.MAX_CONTEXT)
    assert contract.SECTIONS == {f.name for f in cfg.Config.__dataclass_fields__.values()}
    from app.core import types

    assert (contract.MAX_TASK_TITLE, contract.MAX_TASK_DESCRIPTION) == (
        types.MAX_TASK_TITLE,
        types.MAX_TASK_DESCRIPTION,
    )
    assert (contract.MAX_PATIENCE_ROUNDS, contract.MAX_MIN_IMPROVEMENT_MICRO) == (
        types.MAX_PATIENCE_ROUNDS,
        types.MAX_MIN_IMPROVEMENT_MICRO,
    )


def test_the_window_takes_its_method_names_from_the_contract() -> None:
    """A window constant naming a method the contract lacks stops the window's import, with the name."""
    import pytest

    from app.ui import api

    assert api.CONFIG_SET == "config.set" and api.RESTART == "restart"
    with pytest.raises(ImportError, match="'wallet.nonexistent', which app/rpc/contract.py does not define"):
        api._method("wallet.nonexistent")
