"""The local RPC's wire protocol, shared by the daemon, the CLI and the window.

JSON-RPC 2.0, one JSON object per line (UTF-8, `\\n`-terminated; JSON escapes every newline inside
strings, so a line is always one whole message). This module is pure: it turns bytes into checked
messages and back, and names the versions, limits, error codes and event kinds. No sockets here, and no
heavy imports, because the Qt window imports it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Union

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)

MAX_REQUEST_BYTES = 1 << 20  # what the server accepts from a client, per line
MAX_RESPONSE_BYTES = 16 << 20  # what a client accepts from the server (log dumps can be large)

NOTIFY_EVENT = "event"  # server -> client: one published event
NOTIFY_CLOSING = "closing"  # server -> client: the daemon is stopping; expect EOF
NOTIFY_MISSED = "missed"  # server -> client: events were dropped because the client fell behind

EVENT_KINDS: frozenset[str] = frozenset(
    {"new_block", "round_started", "receipt_verified", "reward", "mining_state", "mining_progress", "warning", "log"}
)

METHOD_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")

JsonId = Union[int, str, None]


class ErrorCode(IntEnum):
    """JSON-RPC error codes: the standard five, ours in -32001..-32099, methods' own at 1000 and up."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    UNAUTHORIZED = -32001
    UNSUPPORTED_PROTOCOL = -32002
    MESSAGE_TOO_LARGE = -32003
    TOO_MANY_CONNECTIONS = -32004
    SHUTTING_DOWN = -32005


class RpcError(Exception):
    """An error that travels: raised by handlers on the server, raised again by the client."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.data = data

    def __str__(self) -> str:
        return f"{self.message} (code {self.code})"

    def to_json(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


class ProtocolError(ValueError):
    """Bytes that are not a valid message; `code` says which JSON-RPC error describes it."""

    def __init__(self, code: ErrorCode, message: str, request_id: JsonId = None) -> None:
        super().__init__(message)
        self.code = code
        self.request_id = request_id

    def as_rpc_error(self) -> RpcError:
        return RpcError(self.code, str(self))


@dataclass(frozen=True)
class Request:
    """A call (`id` present) or a client notification (`is_notification`: no reply is sent)."""

    method: str
    params: dict[str, Any] | list[Any] = field(default_factory=dict)
    id: JsonId = None
    is_notification: bool = False


@dataclass(frozen=True)
class Response:
    """The answer to one request: exactly one of `result` or `error`."""

    id: JsonId
    result: Any = None
    error: RpcError | None = None


@dataclass(frozen=True)
class Notification:
    """A server push: `method` is "event" (params: kind, seq, data) or "closing"."""

    method: str
    params: dict[str, Any]

    @property
    def kind(self) -> str | None:
        """The event kind for "event" notifications, else None."""
        kind = self.params.get("kind")
        return kind if isinstance(kind, str) else None

    @property
    def data(self) -> Any:
        return self.params.get("data")

    @property
    def seq(self) -> int | None:
        seq = self.params.get("seq")
        return seq if isinstance(seq, int) else None


def encode(obj: dict[str, Any]) -> bytes:
    """One compact JSON line; NaN and Infinity are refused because JSON has no such numbers."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode() + b"\n"


def encode_request(req: Request) -> bytes:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": req.method, "params": req.params}
    if not req.is_notification:
        msg["id"] = req.id
    return encode(msg)


def encode_response(resp: Response) -> bytes:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": resp.id}
    if resp.error is not None:
        msg["error"] = resp.error.to_json()
    else:
        msg["result"] = resp.result
    return encode(msg)


def encode_notification(note: Notification) -> bytes:
    return encode({"jsonrpc": "2.0", "method": note.method, "params": note.params})


def _parse_json(line: bytes) -> Any:
    try:
        return json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProtocolError(ErrorCode.PARSE_ERROR, f"message is not UTF-8: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            ErrorCode.PARSE_ERROR, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise ProtocolError(ErrorCode.PARSE_ERROR, "JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer past Python's 4,300-digit int-from-str limit
        raise ProtocolError(ErrorCode.PARSE_ERROR, f"malformed JSON: {str(exc)[:120]}") from None


def _valid_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def decode_request(line: bytes) -> Request:
    """Parse one client line; raises ProtocolError naming what is wrong (and the id, when readable)."""
    msg = _parse_json(line)
    if isinstance(msg, list):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "batch requests are not supported; send one object per line")
    if not isinstance(msg, dict):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "a request must be a JSON object")
    has_id = "id" in msg
    req_id = msg.get("id")
    if not _valid_id(req_id):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "'id' must be a string, an integer or null")
    if msg.get("jsonrpc") != "2.0":
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "'jsonrpc' must be \"2.0\"", req_id)
    method = msg.get("method")
    if not isinstance(method, str) or not METHOD_NAME.match(method):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, '\'method\' must be a name like "ping" or "wallet.send"', req_id)
    params = msg.get("params", {})
    if not isinstance(params, (dict, list)):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "'params' must be an object or an array", req_id)
    unknown = set(msg) - {"jsonrpc", "method", "params", "id"}
    if unknown:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, f"unknown request members: {', '.join(sorted(unknown))}", req_id)
    return Request(method=method, params=params, id=req_id, is_notification=not has_id)


def decode_server_message(line: bytes) -> Response | Notification:
    """Parse one server line (client side): a response to a call, or a notification."""
    msg = _parse_json(line)
    if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "server sent something that is not a JSON-RPC 2.0 object")
    if "method" in msg:
        params = msg.get("params", {})
        if not isinstance(msg["method"], str) or not isinstance(params, dict):
            raise ProtocolError(ErrorCode.INVALID_REQUEST, "server sent a malformed notification")
        return Notification(method=msg["method"], params=params)
    if "id" not in msg or not _valid_id(msg["id"]):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "server response lacks a valid 'id'")
    if "error" in msg:
        err = msg["error"]
        if not isinstance(err, dict) or not isinstance(err.get("code"), int) or not isinstance(err.get("message"), str):
            raise ProtocolError(ErrorCode.INVALID_REQUEST, "server sent a malformed error object")
        return Response(id=msg["id"], error=RpcError(err["code"], err["message"], err.get("data")))
    if "result" not in msg:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "server response has neither 'result' nor 'error'")
    return Response(id=msg["id"], result=msg["result"])


def choose_version(client_versions: list[int]) -> int | None:
    """The highest protocol version both sides speak, or None when they share none."""
    common = set(client_versions) & set(SUPPORTED_VERSIONS)
    return max(common) if common else None
