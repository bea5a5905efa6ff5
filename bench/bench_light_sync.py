"""What a light daemon keeps on disk and in memory after a long chain, and how soon it reaches the head.

A real signed chain of `--blocks` headers (app/node/chaingen.py: Ed25519 quorum QCs, leader rotation,
epochs, a hand-over to a changed member) is served to the real `LightClient` from memory, which
verifies every header with `HeaderChain` and records each batch in its `HeaderIndex` file. Measured:

- from genesis to `--back` headers short of the head, then a restart (close, reopen the index, resume)
  and the last `--back` headers: the genesis sync time, and the restart's time to the head;
- a fresh client from a trusted checkpoint `--back` headers below the head, to the head;
- the index file after the whole chain (at rest, after its write-ahead log is folded in; and the log
  at its largest while syncing), and memory: the process RSS growth over the genesis sync and the
  tracemalloc peak of the client (HeaderChain + index + a batch) over the checkpoint sync;
- the per-header cost against a baseline taken in the same run: one raw Ed25519 verify times the
  quorum (the signature-verification bound of a header).

"To the head" is when mining can begin: a miner needs the verified head, nothing older; the miner's
own start-up (task fetch, model load) is not in these figures. Headers come from memory: no network,
whose cost (BATCH headers a round trip) is out of scope here.

    python bench/bench_light_sync.py [--blocks 100000] [--back 1000] [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import psutil
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core import crypto  # noqa: E402
from app.core.types import SignedHeader  # noqa: E402
from app.node.chainfiles import Checkpoint  # noqa: E402
from app.node.chaingen import iter_headers, make_genesis  # noqa: E402
from app.node.header_index import HeaderIndex  # noqa: E402
from app.node.light import BATCH, LightClient  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "light_sync.txt"
MB = 1 << 20


class MemoryPeer:
    """What `LightClient.sync` asks of the network, answered from the generated chain in memory."""

    def __init__(self, headers: list[SignedHeader], upto: int) -> None:
        self.headers, self.upto = headers, upto

    def call(self, fn: Any, timeout_s: float = 0) -> Any:
        return fn(self)

    def call_headers(self, peer: str, start: int, count: int) -> list[SignedHeader]:
        return self.headers[start - 1 : min(start - 1 + count, self.upto)]


class WatchedIndex(HeaderIndex):
    """The index, timing its writes and noting the largest write-ahead log seen."""

    write_s = 0.0
    wal_peak = 0

    def record(self, *args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        super().record(*args, **kwargs)
        self.write_s += time.perf_counter() - start
        wal = self.path.with_name(self.path.name + "-wal")
        self.wal_peak = max(self.wal_peak, wal.stat().st_size if wal.exists() else 0)


def verify_baseline(headers: list[SignedHeader], count: int) -> float:
    """Seconds for one raw Ed25519 verify (OpenSSL via `cryptography`), over real QC signatures."""
    jobs = []
    for sh in headers:
        assert sh.qc is not None
        for sig in sh.qc.signatures:
            vote = sh.qc.vote_of(sig)
            message = crypto.signing_message(crypto.SIG_VOTE, vote.chain_id, vote.signing_bytes())
            jobs.append((Ed25519PublicKey.from_public_bytes(sig.voter), sig.signature, message))
        if len(jobs) >= count:
            break
    best = float("inf")
    for _ in range(3):  # best of three, as the verification figures are single runs of many headers
        start = time.perf_counter()
        for key, signature, message in jobs:
            key.verify(signature, message)
        best = min(best, time.perf_counter() - start)
    return best / len(jobs)


def batch_memory(headers: list[SignedHeader]) -> int:
    """Bytes one batch of headers takes once decoded, as a networked client holds it (not counted
    by the memory-served runs, whose batches are slices of the chain already in memory)."""
    wire = [sh.encode() for sh in headers[:BATCH]]
    tracemalloc.start()
    batch = [SignedHeader.decode(raw) for raw in wire]
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del batch
    return size


def checkpoint_sync(
    folder: Path, genesis: Any, headers: list[SignedHeader], checkpoint: Checkpoint, traced: bool
) -> tuple[float, int]:
    """A fresh client from `checkpoint` to the head: seconds, and the tracemalloc peak when `traced`
    (a separate run, as tracing slows allocation)."""
    folder.mkdir()
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    index = HeaderIndex(folder / "headers.sqlite")
    client = LightClient(genesis, MemoryPeer(headers, len(headers)), checkpoint, index=index)  # type: ignore[arg-type]
    client.sync("memory")
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    tracemalloc.stop()
    index.close()
    assert client.headers.head == headers[-1].header
    return seconds, peak


def run(blocks: int, back: int, epoch_length: int, validators: int) -> list[str]:
    out: list[str] = []
    say = out.append
    genesis = make_genesis(validators, epoch_length)
    start = time.perf_counter()
    headers: list[SignedHeader] = []
    checkpoint = None
    for sh, committee in iter_headers(blocks, validators, epoch_length):
        headers.append(sh)
        if sh.header.height == blocks - back:
            checkpoint = Checkpoint(sh.header, committee)
    t_gen = time.perf_counter() - start
    assert checkpoint is not None
    quorum = len(headers[-1].qc.signatures) if headers[-1].qc else 0
    t_sig0 = verify_baseline(headers, 6000)
    say(f"chain: {blocks} generated headers, {validators} validators, epochs of {epoch_length}, quorum {quorum}")
    say(f"  generated in {t_gen:.1f} s ({t_gen / blocks * 1e6:.0f} us a header); served from memory, no network")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "light" / "headers.sqlite"
        path.parent.mkdir()
        proc = psutil.Process()
        rss0 = proc.memory_info().rss
        index = WatchedIndex(path)
        client = LightClient(genesis, MemoryPeer(headers, blocks - back), index=index)  # type: ignore[arg-type]
        start = time.perf_counter()
        client.sync("memory")
        t_genesis = time.perf_counter() - start
        rss_growth = proc.memory_info().rss - rss0
        writes, wal_peak = index.write_s, index.wal_peak
        index.close()

        start = time.perf_counter()  # restart: reopen, resume, verify the last `back` headers
        index = WatchedIndex(path)
        client = LightClient(genesis, MemoryPeer(headers, blocks), index=index)  # type: ignore[arg-type]
        t_open = time.perf_counter() - start
        assert client.headers.height == blocks - back
        client.sync("memory")
        t_restart = time.perf_counter() - start
        assert client.headers.head == headers[-1].header and index.hash_at(1) == headers[0].header.block_hash
        wal_peak = max(wal_peak, index.wal_peak)
        index.close()
        at_rest = sum(p.stat().st_size for p in path.parent.iterdir())

        t_cp, _ = checkpoint_sync(Path(tmp) / "light-cp", genesis, headers, checkpoint, traced=False)
        _, traced_peak = checkpoint_sync(Path(tmp) / "light-cp2", genesis, headers, checkpoint, traced=True)

    synced = blocks - back
    t_sig1 = verify_baseline(headers, 6000)  # again after: a shared machine's speed drifts over minutes
    t_sig = (t_sig0 + t_sig1) / 2
    per_header = (t_genesis - writes) / synced
    bound = quorum * t_sig
    say("")
    say(
        f"baseline: one Ed25519 verify {t_sig0 * 1e6:.1f} us before the syncs, {t_sig1 * 1e6:.1f} us after; "
        f"mean x quorum {quorum} = {bound * 1e6:.0f} us a header (the bound)"
    )
    say(f"from genesis     : {synced} headers in {t_genesis:.1f} s = {t_genesis / synced * 1e6:.0f} us a header")
    say(f"  verification   : {per_header * 1e6:.0f} us a header = {per_header / bound:.2f}x the signature bound")
    say(
        f"  index writes   : {writes:.2f} s ({writes / t_genesis:.1%} of the sync; batches of {BATCH}, one transaction each)"
    )
    say(f"restart to head  : {t_restart:.2f} s (reopen + resume {t_open * 1000:.0f} ms, then {back} new headers)")
    say(f"checkpoint start : {t_cp:.2f} s to the head from a checkpoint {back} below it ({back} headers verified)")
    say(
        f"genesis to head  : {t_genesis + t_restart - t_open:.1f} s for all {blocks} headers "
        f"= {(t_genesis + t_restart - t_open) / t_cp:.1f}x the checkpoint start"
    )
    say("")
    say(f"disk after {blocks} blocks: {at_rest / MB:.2f} MB at rest ({at_rest / (blocks + 1):.1f} bytes a height)")
    say(f"  write-ahead log at its largest while syncing: {wal_peak / MB:.2f} MB (folded in on close)")
    say(f"memory: RSS growth over the genesis sync {rss_growth / MB:.1f} MB")
    say(f"  tracemalloc peak of client + index over the checkpoint sync: {traced_peak / MB:.2f} MB")
    say(f"  a decoded batch of {BATCH} headers off the network would add {batch_memory(headers) / MB:.2f} MB")
    say(
        f"  (process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB holds the generated chain)"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--blocks", type=int, default=100_000)
    parser.add_argument("--back", type=int, default=1000, help="checkpoint / restart this many headers below the head")
    parser.add_argument("--epoch-length", type=int, default=20)
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="a smoke test: 2,000 blocks, nothing written")
    parser.add_argument("--out", type=Path, default=None, help=f"results file (default {RESULTS} for a full run)")
    args = parser.parse_args()
    blocks = 2_000 if args.quick else args.blocks
    back = min(args.back, blocks // 2)
    lines = run(blocks, back, args.epoch_length, args.validators)
    print("\n".join(lines))
    out = args.out or (None if args.quick else RESULTS)
    if out is not None:
        out.write_text(
            f"$ python bench/bench_light_sync.py --blocks {blocks} (cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at the end)\n\n"
            + "\n".join(lines)
            + "\n"
        )


if __name__ == "__main__":
    main()
