"""Screenshots of every tab and of the wizard, for docs/screenshots/ and the README.

Needs a display: run under Xvfb (Debian: `apt-get install xvfb`), e.g.
    xvfb-run -a -s "-screen 0 1280x860x24" python scripts/screenshots.py [--theme light|dark|both] [--out DIR]
This script installs nothing. It starts a one-validator devnet and a real `potminer daemon` on it
(tests/ui/devnet_daemon.py), makes a wallet, mines until rewards arrive, sends one transfer, then opens
the window against the daemon and grabs each page once a round is training and its data has arrived.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402

from app import config as cfg  # noqa: E402
from app.core.types import GRAINS_PER_POT  # noqa: E402
from app.ui import theme  # noqa: E402
from app.ui.main import GuiApp  # noqa: E402
from app.ui.main_window import PAGES  # noqa: E402
from app.ui.wizard import Wizard  # noqa: E402
from app.ui.wizard_flow import Action, Step  # noqa: E402
from tests.daemon.daemon_proc import wait_for  # noqa: E402
from tests.ui.devnet_daemon import PASSWORD, DevnetDaemon  # noqa: E402

FRIEND = "potd1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5aghp29"  # any valid devnet address: the transfer's recipient


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def prepare(dd: DevnetDaemon) -> None:
    """A wallet with a few rewards and one transfer sent, and a round training."""
    dd.ensure_wallet()
    dd.wait_reward()
    wait_for(lambda: sum(e["kind"] == "reward" for e in dd.rpc("wallet.history")["entries"]) >= 3, 120, "rewards")
    spendable = dd.rpc("wallet.balance")["accounts"]["reward"]["balance"]  # rewards are paid by verified compute
    amount = f"{spendable / 4 / GRAINS_PER_POT:.2f}"  # a quarter of it, whatever this round paid
    dd.rpc(
        "wallet.send",
        {"to": FRIEND, "amount": amount, "memo": "thanks for the GPU", "account": "reward", "password": PASSWORD},
    )
    wait_for(lambda: any(e["kind"] == "sent" for e in dd.rpc("wallet.history")["entries"]), 60, "the send")


def shoot(app: QApplication, dd: DevnetDaemon, out: Path, theme_name: str) -> None:
    theme.apply(app, theme_name)
    suffix = "" if theme_name == "light" else "-dark"
    gui = GuiApp(dd.data_dir, cfg.Config(), launch=False)
    gui.start()
    end = time.monotonic() + 60
    while time.monotonic() < end and not (
        gui.model.history.rewards() and gui.model.tasks.rowCount() and gui.model.status.committee
    ):
        pump(app, 0.2)  # connected, wallet and history in, a few points of the loss curve
    for name in PAGES:
        gui.window.show_page(name)
        pump(app, 0.8)
        if name == "Dashboard":  # a moment where a round is well under way
            end = time.monotonic() + 90
            while time.monotonic() < end and not (
                gui.model.mining.state == "mining" and len(gui.window.dashboard.loss.points) >= 3
            ):
                pump(app, 0.05)
        path = out / f"{name.lower()}{suffix}.png"
        gui.window.grab().save(str(path))
        print("wrote", path)
    wizard = Wizard(gui.model, wallet_exists=False, parent=gui.window)
    wizard.show()
    pump(app, 0.5)
    wizard.grab().save(str(out / f"wizard-welcome{suffix}.png"))
    wizard.create_radio.setChecked(True)
    # a published test vector, never a real wallet's words
    wizard.flow.answers.phrase = "legal winner thank year wave sausage worth useful legal winner thank yellow"
    wizard.flow.answers.wallet_created = True
    wizard.flow.answers.action = Action.CREATE
    wizard.flow.current = Step.SHOW_SEED
    wizard._show()
    pump(app, 0.3)
    wizard.grab().save(str(out / f"wizard-seed{suffix}.png"))
    wizard.close()
    print("wrote wizard screenshots")
    gui.client.stop()
    gui.window.close()
    gui.tray.icon.hide()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--theme", choices=("light", "dark", "both"), default="both")
    args = ap.parse_args()
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        print("no display: run under Xvfb, e.g. xvfb-run -a python scripts/screenshots.py", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    with tempfile.TemporaryDirectory() as tmp, DevnetDaemon(Path(tmp) / "run") as dd:
        prepare(dd)
        for theme_name in ("light", "dark") if args.theme == "both" else (args.theme,):
            shoot(app, dd, args.out, theme_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
