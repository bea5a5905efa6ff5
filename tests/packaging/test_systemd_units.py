"""packaging/systemd: the node's unit runs a command line the real `potminer node` accepts, keeps the
consensus key out of the data folder, restarts on crashes but not on a refused signing record, and logs
to the journal. `systemd-analyze verify` checks the unit's syntax where systemd is installed."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from app.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "packaging" / "systemd"
INSTANCE = "validator"


def unit() -> dict[str, str]:
    """The unit's keys (the last value of each; systemd's rule for these keys)."""
    values: dict[str, str] = {}
    for line in (UNITS / "potminer-node@.service").read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def env() -> dict[str, str]:
    pairs = [
        line.split("=", 1)
        for line in (UNITS / "node.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    return {k: v for k, v in pairs}


def exec_start() -> list[str]:
    """ExecStart as systemd would run it for the example instance: specifiers, then ${VAR} (one word), $VAR (split)."""
    line = unit()["ExecStart"]
    line = line.replace("%S", "/var/lib").replace("%d", f"/run/credentials/potminer-node@{INSTANCE}.service")
    line = line.replace("%i", INSTANCE)
    variables = env()
    words = []
    for word in shlex.split(line):
        if m := re.fullmatch(r"\$\{(\w+)\}", word):
            words.append(variables[m.group(1)])
        elif m := re.fullmatch(r"\$(\w+)", word):
            words.extend(variables[m.group(1)].split())
        else:
            words.append(word)
    return words


def test_exec_start_is_a_command_line_the_node_accepts() -> None:
    words = exec_start()
    assert words[:2] == ["/usr/bin/potminer", "node"]
    args = build_parser().parse_args(words[1:])
    assert args.role == "validator" and args.listen == ("0.0.0.0", 30333) and len(args.bootstrap) == 2
    assert args.datadir == Path(f"/var/lib/potminer/{INSTANCE}")
    # the consensus key arrives as a credential, never from the data folder (where the node identity lives)
    assert args.key.parent != args.datadir and not args.key.is_relative_to(args.datadir)
    assert unit()["LoadCredential"] == "consensus.key:/etc/potminer/keys/%i.key"
    assert unit()["StateDirectory"] == "potminer/%i" and unit()["StateDirectoryMode"] == "0700"


def test_restart_policy_and_journal_logs() -> None:
    u = unit()
    assert u["Restart"] == "on-failure" and int(u["RestartSec"]) > 0
    # `potminer node` exits 2 for a signing record it will not use (tests/node/test_signing_record.py)
    assert u["RestartPreventExitStatus"] == "2"
    assert (u["StandardOutput"], u["StandardError"]) == ("journal", "journal")
    assert u["KillSignal"] == "SIGTERM" and u["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    shutil.copy(UNITS / "potminer-node@.service", tmp_path)
    out = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / f"potminer-node@{INSTANCE}.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [line for line in out.stderr.splitlines() if "/usr/bin/potminer is not executable" not in line]
    assert problems == [], problems  # only the program itself is missing here (it is installed by the package)
