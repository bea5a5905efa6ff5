"""The multi-host rehearsal (issue 13), reduced to fit CI: one validator, a bootstrap node and two volunteer
daemons (in network namespaces where root allows, else on 127.0.0.1), every dialled host behind a WAN
relay (40 ms one way, 1% loss as retransmission stalls). Blocks advance, both volunteers are paid, a
SIGKILLed validator heals, a cut volunteer heals, and every host holds the same block at every height.
The full size runs on demand: scripts/rehearsal.py.
"""

from __future__ import annotations

from pathlib import Path

import psutil

from app.net import netns
from app.node.rehearsal import Rehearsal, RehearsalConfig
from app.node.rehearsal_run import run


def _reduced(tmp_path: Path, use_netns: bool) -> RehearsalConfig:
    return RehearsalConfig(
        validators=1,
        volunteers=2,
        netns=use_netns,
        delay_ms=(40.0, 40.0),
        loss=0.01,
        seed=3,
        timeout_s=240.0,
        datadir=tmp_path / "net",
        partition_s=6.0,
        crash_down_s=3.0,
    )


def _check(tmp_path: Path, use_netns: bool) -> None:
    lines: list[str] = []
    with Rehearsal(_reduced(tmp_path, use_netns)) as rehearsal:
        report = run(rehearsal, lines.append)
        pids = [p.pid for p in rehearsal.relays] + [
            m.process.pid for m in rehearsal.net.members.values() if m.process is not None
        ]
        pids += [v.process.pid for v in rehearsal.volunteers.values() if v.process is not None]
    assert report.ok, "\n".join(lines)
    assert len(report.block_times) >= 3
    assert report.paid == 2 and report.crash_heal_s is not None and report.partition_heal_s is not None
    assert report.agreed_top > 0
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_reduced_rehearsal(tmp_path: Path) -> None:
    """In network namespaces where root and iproute2 allow (each host its own address), else on loopback
    ports behind the same relays: one run, not both, to keep the suite inside CI's 15 minutes."""
    use_netns = netns.available() is None
    _check(tmp_path, use_netns=use_netns)
    if use_netns:
        assert not [ns for ns in netns._ours()], "a namespace was left behind"
