"""Issue 17 soak, short form: a loopback devnet under a hostile peer keeps finalising, stays flat, bans it.

The full form is scripts/soak.py (minutes); see tests/integration/soak.py for the attacks.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.soak import run_soak


def test_a_devnet_under_attack_keeps_finalising_with_flat_memory_and_bans_every_hostile_identity(
    tmp_path: Path,
) -> None:
    report = run_soak(tmp_path / "soak", seconds=25.0, validators=4, miners=1)
    print("\n".join(report.lines()))
    assert report.finalised >= 5
    assert report.identities and report.attacks.get("stalled streams", 0) > 0
    for ident in report.identities:
        assert len(report.banned_by[ident]) == 4, ident
    for name, start in report.memory_start.items():
        assert report.memory_end[name].rss_mib <= start.rss_mib + 32, name  # flat, within 32 MiB
