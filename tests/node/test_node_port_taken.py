"""A node whose listening port is taken stops with one line that says what to do, not a silent deaf node.

libp2p only logs a failed bind and runs on; a validator nobody can reach would sign nothing and be counted
absent. The cheat here is no attacker but another program on the port (or a devnet port stolen while a
node was down).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from app.node.devnet import Devnet, DevnetConfig


def test_a_node_on_a_taken_port_exits_2_naming_the_port_and_the_way_out(tmp_path: Path) -> None:
    net = Devnet(DevnetConfig(validators=1, miners=0, datadir=tmp_path))
    net.setup()
    member = net.members["v0"]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", member.port))
        squatter.listen()
        done = subprocess.run(net.command(member), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("potminer node: could not listen on 127.0.0.1:")
    assert str(member.port) in last and "choose another port (--listen)" in last
    assert "Traceback" not in done.stderr
