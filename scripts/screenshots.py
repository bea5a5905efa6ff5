"""Screenshots of every tab and of the wizard, for docs/screenshots/ and the README.

Needs a display: run under Xvfb (Debian: `apt-get install xvfb`), e.g.
    xvfb-run -a -s "-screen 0 1280x860x24" python scripts/screenshots.py [--theme light|dark] [--out DIR]
This script installs nothing. It starts the stand-in daemon (tests/ui/standin_daemon.py: the real RPC
server, wallet and config with a scripted chain) on a temporary data folder with a month of rewards and
mining on, opens the window against it, and grabs each page once the data has arrived.
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
from app.ui import theme  # noqa: E402
from app.ui.main import GuiApp  # noqa: E402
from app.ui.main_window import PAGES  # noqa: E402
from app.ui.wizard import Wizard  # noqa: E402
from app.ui.wizard_flow import Action, Step  # noqa: E402
from tests.ui import daemon_process  # noqa: E402


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--theme", choices=("light", "dark"), default="light")
    args = ap.parse_args()
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        print("no display: run under Xvfb, e.g. xvfb-run -a python scripts/screenshots.py", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    theme.apply(app, args.theme)
    suffix = "" if args.theme == "light" else "-dark"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        proc = daemon_process.start(data, "--create-wallet", "correct horse battery", "--history-days", "30", "--mine")
        try:
            gui = GuiApp(data, cfg.Config(), launch=False)
            gui.start()
            pump(app, 2.0)  # connect, fetch, a few blocks
            end = time.monotonic() + 20
            while len(gui.window.dashboard.loss.points) < 4 and time.monotonic() < end:
                pump(app, 0.2)  # a few points of the loss curve
            for name in PAGES:
                gui.window.show_page(name)
                pump(app, 0.8)
                path = args.out / f"{name.lower()}{suffix}.png"
                gui.window.grab().save(str(path))
                print("wrote", path)
            wizard = Wizard(gui.model, wallet_exists=False, parent=gui.window)
            wizard.show()
            pump(app, 0.5)
            wizard.grab().save(str(args.out / f"wizard-welcome{suffix}.png"))
            wizard.create_radio.setChecked(True)
            wizard.flow.answers.phrase = ("legal winner thank year wave sausage worth useful legal winner thank yellow")
            wizard.flow.answers.wallet_created = True
            wizard.flow.answers.action = Action.CREATE
            wizard.flow.current = Step.SHOW_SEED
            wizard._show()
            pump(app, 0.3)
            wizard.grab().save(str(args.out / f"wizard-seed{suffix}.png"))
            print("wrote wizard screenshots")
            gui.client.stop()
        finally:
            daemon_process.stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
