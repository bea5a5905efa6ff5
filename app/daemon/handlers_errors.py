"""Method error codes (1000 and up, docs/RPC.md) and the mapping from domain exceptions to them.

Handlers stay thin: they call the domain and let this module turn its exceptions into RpcErrors whose
messages are the domain's own (already written for people: they say what to do next).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from app.config import ConfigError
from app.core.admission import InadmissibleTask
from app.core.errors import InsufficientFunds, InvalidAddress, PotError
from app.pot.hparams import InvalidTaskSpec
from app.rpc.contract import MethodError as MethodError
from app.rpc.protocol import RpcError
from app.wallet import errors as werr

F = TypeVar("F", bound=Callable[..., Any])


def _code_for(exc: Exception) -> MethodError | None:
    if isinstance(exc, werr.WalletLocked):
        return MethodError.WALLET_LOCKED
    if isinstance(exc, werr.KeystoreMissing):
        return MethodError.NO_WALLET
    if isinstance(exc, werr.WrongPassword):
        return MethodError.WRONG_PASSWORD
    if isinstance(exc, werr.KeystoreExists):
        return MethodError.WALLET_EXISTS
    if isinstance(exc, (werr.WalletError, InvalidAddress, InvalidTaskSpec, FileNotFoundError, IsADirectoryError)):
        return MethodError.BAD_INPUT
    if isinstance(exc, ConfigError):
        return MethodError.BAD_CONFIG
    if isinstance(exc, PotError):
        return MethodError.TX_REFUSED
    return None


def _detail_for(exc: Exception) -> str | None:
    """A finer reason in `data.detail` for the failures a form can point at (the code stays the same)."""
    if isinstance(exc, InvalidAddress):
        return "invalid_address"
    if isinstance(exc, InsufficientFunds):
        return "insufficient_funds"
    if isinstance(exc, werr.InvalidAmount):
        return "invalid_amount"
    if isinstance(exc, InadmissibleTask):
        return exc.reason  # the admission rule that refused the task (lr-too-low, fee-too-low, ...)
    return None


def domain_errors(fn: F) -> F:
    """Decorator: re-raise the domain's expected failures as method errors with their message."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RpcError:
            raise
        except Exception as exc:
            code = _code_for(exc)
            if code is None:
                raise
            message = str(exc) or type(exc).__name__
            if code is MethodError.WRONG_PASSWORD:
                message = "wrong password"
            elif code is MethodError.TX_REFUSED and not isinstance(exc, werr.WalletError):
                message = f"the network would refuse this: {message}"
            data = {"error": code.name.lower()}
            detail = _detail_for(exc)
            if detail is not None:
                data["detail"] = detail
            raise RpcError(code, message, data) from None

    return wrapper  # type: ignore[return-value]


def offline() -> RpcError:
    return RpcError(
        MethodError.NODE_OFFLINE,
        "the daemon runs without a node (--offline); restart it online",
        {"error": "node_offline"},
    )
