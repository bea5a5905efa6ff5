"""The daemon's RPC methods, in one place: each method's name and the schema of its parameters.

The daemon's handlers register under these names with these schemas (`app/daemon/handlers*.py`),
the window (`app/ui/api.py`) and the command line (`app/cli/`) call them, and docs/RPC.md documents
them; tests check all three against this table (tests/daemon/test_rpc_contract.py, test_rpc_doc.py),
so a renamed method or parameter fails a test, not a volunteer's click. Parameters marked `secret`
reach the log redactor as a request arrives, for every method.
"""

from __future__ import annotations

from enum import IntEnum

from app.rpc.schema import Param

LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
SECTIONS = frozenset({"mining", "network", "ui", "rpc", "paths"})
MODES = frozenset({"always", "when-idle", "never"})  # app.config.MiningMode's values (a test keeps them equal)
PASSWORD = Param(str, max_length=1024, secret=True)
ROLE = Param(str, default="spending", choices=frozenset({"spending", "reward"}))
TEXT_CONTEXT_DEFAULT, TEXT_CONTEXT_MAX = 64, 1024  # app.miner.packing's (which imports torch; a test keeps them equal)
# app.core.types' task text and patience bounds, copied so the window (which imports this table for its
# method names) imports no chain code; a test keeps them equal
MAX_TASK_TITLE, MAX_TASK_DESCRIPTION = 80, 500
MAX_PATIENCE_ROUNDS, MAX_MIN_IMPROVEMENT_MICRO = 100_000, 10_000_000
DEFAULT_FEE = "0.000001"  # the chain has no minimum fee and the mempool is first come, first served

METHODS: dict[str, dict[str, Param]] = {
    "status": {},
    "peers": {},
    "chain.account": {"address": Param(str, max_length=200)},
    "logs": {
        "limit": Param(int, default=200, min=1, max=2000),
        "min_level": Param(str, default="DEBUG", choices=LEVELS),
        "after_seq": Param(int, default=0, min=0),
    },
    "config.get": {},
    "config.set": {"section": Param(str, choices=SECTIONS), "values": Param(dict)},
    "stop": {},
    "restart": {},
    "mine.start": {"mode": Param(str, default=None, choices=MODES)},
    "mine.stop": {},
    "mine.pause": {},
    "mine.resume": {},
    "mine.snooze": {"minutes": Param(int, default=60, min=1, max=7 * 24 * 60)},
    "mine.state": {},
    "mine.devices": {},
    "mine.settings": {"changes": Param(dict, default=None)},
    "task.post": {
        "dataset": Param(str, default="digits", max_length=64),
        "model": Param(str, default="", choices=frozenset({"", "mlp", "cnn", "tiny-lm"})),
        "rounds": Param(int, default=10, min=1, max=100_000),
        "local_steps": Param(int, default=64, min=1, max=1_000_000),
        "checkpoint_interval": Param(int, default=16, min=1, max=1_000_000),
        "batch_size": Param(int, default=32, min=1, max=65536),
        "fee_per_round": Param(str, default="10", max_length=40),
        "fee": Param(str, default=DEFAULT_FEE, max_length=40),
        "data": Param(str, default="", max_length=4096),  # a file or folder on the daemon's machine
        "name": Param(str, default="", max_length=64),
        "context": Param(int, default=TEXT_CONTEXT_DEFAULT, min=2, max=TEXT_CONTEXT_MAX),
        "lr": Param(str, default="", max_length=40),
        "title": Param(str, default="", max_length=MAX_TASK_TITLE),
        "description": Param(str, default="", max_length=MAX_TASK_DESCRIPTION),
        "patience": Param(int, default=0, min=0, max=MAX_PATIENCE_ROUNDS),
        "min_improvement": Param(float, default=0.0, min=0.0, max=MAX_MIN_IMPROVEMENT_MICRO / 1_000_000),
    },
    "task.result": {"task_id": Param(str, max_length=128), "path": Param(str, max_length=4096)},
    "task.show": {"task_id": Param(str, max_length=128)},
    "task.list": {},
    "task.history": {"task_id": Param(str, max_length=128)},
    "wallet.create": {"password": PASSWORD, "words": Param(int, default=24, choices=frozenset({12, 15, 18, 21, 24}))},
    "wallet.restore": {
        "phrase": Param(str, max_length=1000, secret=True),
        "password": PASSWORD,
        "passphrase": Param(str, default="", max_length=1024, secret=True),
    },
    "wallet.export": {
        "password": PASSWORD,
        "what": Param(str, choices=frozenset({"phrase", "raw_key", "keystore"})),
        "role": ROLE,
        "destination": Param(str, default="", max_length=4096),
    },
    "wallet.import": {
        "password": PASSWORD,
        "keystore": Param(str, default="", max_length=4096),
        "private_key": Param(str, default="", max_length=200, secret=True),
    },
    "wallet.unlock": {"password": PASSWORD},
    "wallet.lock": {},
    "wallet.address": {},
    "wallet.forget_hot_key": {},
    "wallet.balance": {},
    "wallet.check_address": {"address": Param(str, max_length=200)},
    "wallet.fee_estimate": {},
    "wallet.history": {"limit": Param(int, default=100, min=1, max=1000)},
    "wallet.send": {
        "to": Param(str, max_length=200),
        "amount": Param(str, max_length=40),
        "fee": Param(str, default=DEFAULT_FEE, max_length=40),
        "memo": Param(str, default="", max_length=128),
        "account": ROLE,
        "password": Param(str, default="", max_length=1024, secret=True),
    },
    "wallet.sweep": {"fee": Param(str, default=DEFAULT_FEE, max_length=40)},
}


class MethodError(IntEnum):
    """The method error codes (docs/RPC.md "Daemon methods"): the daemon raises them, the window and the
    command line react to them; both take them from here."""

    WALLET_LOCKED = 1001
    NO_WALLET = 1002
    WRONG_PASSWORD = 1003
    WALLET_EXISTS = 1004
    BAD_INPUT = 1005  # an address, amount, phrase, key or password the user must correct
    TX_REFUSED = 1006  # the chain's state refuses the transaction (funds, nonce, ...)
    NODE_OFFLINE = 1007
    NOT_FOUND = 1008
    BAD_CONFIG = 1009
