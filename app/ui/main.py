"""`potminer gui`: the QApplication, the theme, one window per data folder, and the daemon attach-or-launch.

The window never hosts the node: it attaches to the daemon serving the data folder, or starts one
detached (`potminer daemon --datadir DIR`, so it keeps mining after the window closes) and connects as
soon as the daemon publishes its endpoint. Nothing heavy is imported here: the window opens fast.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QProcess
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QApplication

from app import __version__, config as cfg
from app.rpc.discovery import LockFileError, read_lock_info
from app.ui import theme
from app.ui.cli_args import add_gui_args
from app.ui.daemon_model import DaemonModel
from app.ui.main_window import MainWindow
from app.ui.rpc_client import RpcClient, locate
from app.ui.tray import Tray
from app.ui.widgets.network_choice import RESTART_NOTE
from app.ui.wizard import Wizard

log = logging.getLogger(__name__)


def resolve_data_dir(datadir: Path | None) -> tuple[Path, cfg.Config]:
    try:
        config, _warnings = cfg.load(cfg.config_file(datadir))
    except cfg.ConfigError as exc:
        log.warning("%s; using defaults in the window (the daemon will say more)", exc)
        config = cfg.Config()
    return cfg.resolve_paths(config, datadir).data_dir, config


def daemon_command(data_dir: Path) -> tuple[str, list[str]]:
    """How the window starts the daemon: the same interpreter, so a frozen or venv install stays whole."""
    if getattr(sys, "frozen", False):  # PyInstaller: the console executable sits next to the windowed one
        return str(Path(sys.executable).with_name("potminer")), ["daemon", "--datadir", str(data_dir)]
    return sys.executable, ["-m", "app", "daemon", "--datadir", str(data_dir)]


def daemon_alive(data_dir: Path) -> bool:
    """A lockfile whose process exists: a daemon is running or starting on `data_dir`."""
    try:
        info = read_lock_info(data_dir)
    except (LockFileError, PermissionError):
        return True  # someone's file: let the client report it rather than start a second daemon
    if info is None:
        return False
    import psutil  # light, and only needed here

    return psutil.pid_exists(info.pid)


def launch_daemon(data_dir: Path) -> bool:
    program, args = daemon_command(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    ok, pid = QProcess.startDetached(program, args, str(data_dir))
    log.info("started the daemon (%s %s): %s, pid %s", program, " ".join(args), ok, pid)
    return bool(ok)


def instance_name(data_dir: Path) -> str:
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return f"potminer-gui-{digest}"


def already_running(name: str) -> bool:
    """Ask a window already open on this data folder to come forward; True when one answered."""
    sock = QLocalSocket()
    sock.connectToServer(name)
    if not sock.waitForConnected(300):
        return False
    sock.write(b"show\n")
    sock.waitForBytesWritten(300)
    sock.disconnectFromServer()
    return True


class GuiApp:
    """Everything one window needs, built in order; `window` is shown by `start()`."""

    def __init__(self, data_dir: Path, config: cfg.Config, *, launch: bool = True) -> None:
        self.data_dir = data_dir
        self.launch = launch
        self.launched = False
        self.client = RpcClient(lambda: locate(data_dir))
        self.model = DaemonModel(self.client)
        self.tray = Tray(self.model)
        self.window = MainWindow(self.model, self.tray, on_quit=self.quit)
        self.tray.showRequested.connect(self.window.bring_to_front)
        self.tray.quitRequested.connect(self.quit)
        self.wizard: Wizard | None = None
        self.model.statusChanged.connect(self._maybe_wizard)
        self.window.wallet.setup_button.clicked.connect(self.open_wizard)  # a closed wizard is no dead end
        self.client.stateChanged.connect(self._maybe_launch)
        self.theme_choice = config.ui.theme.value
        self.model.configChanged.connect(self._theme_from_config)

    def start(self, hidden: bool = False) -> None:
        self.tray.show()
        if not hidden or not self.tray.available():
            self.window.show()
        self._maybe_launch(self.client.state, "")
        self.client.start()

    def _maybe_launch(self, state: str, _detail: str) -> None:
        if state != RpcClient.OFFLINE or not self.launch or self.launched:
            return
        if not daemon_alive(self.data_dir):
            self.launched = launch_daemon(self.data_dir)

    def _maybe_wizard(self, status: object) -> None:
        if self.wizard is not None or self.model.status.wallet_info.exists:
            return
        self.open_wizard()

    def _join_new_network(self) -> None:
        """The wizard chose another network: the service restarts to join it (the window reconnects)."""
        self.window.statusBar().showMessage(RESTART_NOTE, 60_000)
        self.model.restart_daemon()

    def open_wizard(self) -> None:
        """The first-run assistant; opened at the first start, and again from the wallet page's button."""
        if self.wizard is not None and self.wizard.isVisible():
            self.wizard.raise_()
            return
        self.wizard = Wizard(self.model, wallet_exists=self.model.status.wallet_info.exists, parent=self.window)
        self.wizard.finished.connect(lambda _r: self.model.refresh_all())
        wizard = self.wizard
        wizard.accepted.connect(lambda: wizard.network_changed and self._join_new_network())
        self.wizard.open()

    def _theme_from_config(self, config: dict) -> None:  # type: ignore[type-arg]
        choice = str(config.get("ui", {}).get("theme", self.theme_choice))
        if choice != self.theme_choice:
            self.theme_choice = choice
            theme.apply(QApplication.instance(), choice)  # type: ignore[arg-type]

    def quit(self) -> None:
        """Close the window and leave; the daemon keeps running (stop it with 'potminer stop')."""
        self.window.quitting = True
        self.client.stop()
        self.tray.icon.hide()
        QApplication.quit()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="potminer-gui", description="PoT Miner's window")
    add_gui_args(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from app.cli.launcher import has_display, window_possible

    if QApplication.instance() is None and has_display() and not window_possible():
        print(
            "potminer gui: the window cannot open here; the daemon runs without it ('potminer daemon').",
            file=sys.stderr,
        )
        return 1
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("PoT Miner")
    app.setApplicationVersion(__version__)
    app.setQuitOnLastWindowClosed(False)  # the tray keeps the app alive when the window hides
    data_dir, config = resolve_data_dir(args.datadir)
    name = instance_name(data_dir)
    if already_running(name):
        print(f"PoT Miner is already open for {data_dir}; brought it to the front.")
        return 0
    gui = GuiApp(data_dir, config, launch=not args.no_launch)
    gui.theme_choice = args.theme or config.ui.theme.value
    theme.apply(app, gui.theme_choice)  # type: ignore[arg-type]
    theme.follow_system(app, lambda: gui.theme_choice)  # type: ignore[arg-type]
    server = QLocalServer()
    QLocalServer.removeServer(name)  # a crashed window's leftover socket
    server.listen(name)
    server.newConnection.connect(lambda: (server.nextPendingConnection(), gui.window.bring_to_front()))
    gui.start(hidden=args.hidden)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
