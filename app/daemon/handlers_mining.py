"""RPC methods `mine.*`: start, pause, resume, state with its reason, and the mining settings."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from app.daemon.handlers_errors import domain_errors
from app.rpc.contract import METHODS

if TYPE_CHECKING:
    from app.daemon.rpc_server import RpcServer
    from app.daemon.services import Services


def list_devices() -> list[dict[str, Any]]:
    """The devices training can use here, by the names `[mining] device` accepts (auto picks the first)."""
    import torch

    from app.miner.devices import available_devices, device_stats

    out = []
    for kind in available_devices():
        if kind == "cuda":
            count = torch.cuda.device_count()
            stats = device_stats(torch.device("cuda", 0))
            name = stats.name + (f" (and {count - 1} more; training uses the first)" if count > 1 else "")
            out.append({"id": "cuda", "kind": "cuda", "name": name, "memory_bytes": stats.memory_total_bytes or 0})
        elif kind == "mps":
            out.append({"id": "mps", "kind": "mps", "name": "Apple GPU (Metal)", "memory_bytes": 0})
        else:
            stats = device_stats(torch.device("cpu"))
            out.append(
                {
                    "id": "cpu",
                    "kind": "cpu",
                    "name": f"Processor: {stats.name}",
                    "memory_bytes": stats.memory_total_bytes or 0,
                }
            )
    return out


def register(server: RpcServer, s: Services) -> None:
    @domain_errors
    def start(mode: str | None) -> dict[str, Any]:
        """Switch mining on (clears a pause); with `mode`, also choose always / when-idle (saved in the config)."""
        if mode is not None:
            s.update_config("mining", {"mode": mode})
        return s.mining.start_mining()

    def stop() -> dict[str, Any]:
        """Switch mining off: the round is saved and the worker process exits (frees the GPU)."""
        return s.mining.stop_mining()

    def pause() -> dict[str, Any]:
        return s.mining.pause()

    def resume() -> dict[str, Any]:
        return s.mining.resume()

    @domain_errors
    def snooze(minutes: int) -> dict[str, Any]:
        """Pause for `minutes` (the window's and the tray's "pause for 1 hour"); resumes by itself."""
        return s.mining.snooze(minutes * 60.0)

    def state() -> dict[str, Any]:
        return s.mining.snapshot()

    found: list[list[dict[str, Any]]] = []  # the hardware does not change while the daemon runs

    def devices() -> dict[str, Any]:
        if not found:
            found.append(list_devices())
        return {"devices": found[0], "selected": s.config.mining.device}

    @domain_errors
    def settings(changes: dict[str, Any] | None) -> dict[str, Any]:
        if changes:
            s.update_config("mining", changes)
        return asdict(s.config.mining)

    server.register("mine.start", start, METHODS["mine.start"])
    server.register("mine.stop", stop, METHODS["mine.stop"])
    server.register("mine.pause", pause, METHODS["mine.pause"])
    server.register("mine.resume", resume, METHODS["mine.resume"])
    server.register("mine.snooze", snooze, METHODS["mine.snooze"])
    server.register("mine.state", state, METHODS["mine.state"])
    server.register("mine.devices", devices, METHODS["mine.devices"])
    server.register("mine.settings", settings, METHODS["mine.settings"])
