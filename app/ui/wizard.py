"""The first-run assistant: Qt pages for the steps of wizard_flow, which decides the navigation.

Each page writes what the user chose into `flow.answers`; Next asks the flow, which says either the next
step or what is missing (shown under the page). Creating or restoring the wallet happens on the daemon
when leaving the password step; the device and mining mode are saved with `config.set` at the end.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.rpc.protocol import RpcError
from app.ui import api
from app.ui.daemon_model import DaemonModel
from app.ui.pages.common import hint, title
from app.ui.widgets.network_choice import CHAINS, PRACTICE, network_change
from app.ui.widgets.secrets import SeedGrid, password_field
from app.ui.wizard_flow import Action, FlowError, Step, WizardFlow, missing, needs_wallet_call


def _page(heading: str, text: str, *widgets: QWidget) -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.addWidget(title(heading))
    body = QLabel(text)
    body.setWordWrap(True)
    layout.addWidget(body)
    for w in widgets:
        layout.addWidget(w)
    layout.addStretch(1)
    return page


class Wizard(QDialog):
    def __init__(self, model: DaemonModel, wallet_exists: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.flow = WizardFlow(wallet_exists)
        self.setWindowTitle("Welcome to PoT Miner")
        self.setMinimumSize(640, 460)
        layout = QVBoxLayout(self)
        self.step_label = hint("")
        layout.addWidget(self.step_label)
        self.stack = QStackedWidget()
        layout.addWidget(self.stack, 1)
        self.error = QLabel("")
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        buttons = QHBoxLayout()
        self.back_button = QPushButton("Back")
        self.next_button = QPushButton("Next")
        self.next_button.setDefault(True)
        buttons.addStretch(1)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.next_button)
        layout.addLayout(buttons)
        self.back_button.clicked.connect(self.go_back)
        self.next_button.clicked.connect(self.go_next)
        self.pages: dict[Step, QWidget] = {}
        self.network_changed = False
        self._build_pages()
        model.devicesChanged.connect(self._fill_devices)
        self._fill_devices(model.devices)
        self._show()

    # -- pages --------------------------------------------------------------------------------
    def _build_pages(self) -> None:
        self._build_wallet_pages()
        self._build_mining_pages()

    def _build_wallet_pages(self) -> None:
        """Welcome, then a new wallet (password, seed phrase shown and confirmed) or a restored one."""
        self.create_radio = QRadioButton("Create a new wallet (first time here)")
        self.restore_radio = QRadioButton("Restore a wallet from its seed phrase")
        group = QButtonGroup(self)
        for r in (self.create_radio, self.restore_radio):
            group.addButton(r)
        self.damaged_note = QLabel("")
        self.damaged_note.setObjectName("errorText")
        self.damaged_note.setWordWrap(True)
        damaged = self.model.status.wallet_info.damaged
        self.damaged_note.setVisible(bool(damaged))
        if damaged:  # the daemon could not open the wallet file: restoring from the phrase is the way back
            self.damaged_note.setText(
                f"Your wallet file could not be opened ({damaged}). Restore the wallet from its seed phrase: "
                "the damaged file is kept next to it, renamed with today's date, and is never deleted."
            )
            self.restore_radio.setChecked(True)
        self._add(
            Step.WELCOME,
            _page(
                "Welcome",
                "PoT Miner trains machine-learning models for the network while your computer is free, "
                "and pays you in POT for verified work. First, a wallet to receive the rewards.",
                self.damaged_note,
                self.create_radio,
                self.restore_radio,
            ),
        )

        self.password = password_field("Password (at least 8 characters)")
        self.password_repeat = password_field("The same password again")
        self._add(
            Step.PASSWORD,
            _page(
                "Choose a password",
                "It encrypts the wallet on this computer and is asked before sending or "
                "showing keys. It cannot be recovered: the seed phrase is the backup.",
                self.password,
                self.password_repeat,
            ),
        )

        self.seed_grid = SeedGrid()
        self._add(
            Step.SHOW_SEED,
            _page(
                "Write down your seed phrase",
                "These words are the only backup of your wallet. Write them on paper, "
                "in order, and keep it safe. Anyone who has them can take your coins; never type them into a website.",
                self.seed_grid,
            ),
        )

        self.confirm_fields = [QLineEdit() for _ in range(3)]
        self.confirm_page = _page(
            "Confirm your seed phrase", "Type the words asked for, from your paper copy.", *self.confirm_fields
        )
        self._add(Step.CONFIRM_SEED, self.confirm_page)

        self.restore_text = QPlainTextEdit()
        self.restore_text.setPlaceholderText("word1 word2 word3 …")
        self.restore_passphrase = password_field("Passphrase (only if you set one; usually empty)")
        self._add(
            Step.RESTORE_SEED,
            _page(
                "Restore from your seed phrase",
                "Type the 12 or 24 words in order, separated by spaces.",
                self.restore_text,
                self.restore_passphrase,
            ),
        )

    def _build_mining_pages(self) -> None:
        """The device, when to mine, and which network."""
        self.device = QComboBox()
        self._add(
            Step.DEVICE,
            _page(
                "Pick the device to train on",
                "A graphics card earns much more than the processor. You can change "
                "this, and set limits on memory, load and temperature, in Settings.",
                self.device,
            ),
        )

        self.idle_radio = QRadioButton("When the computer is idle (recommended): pauses as soon as you use it")
        self.always_radio = QRadioButton("Always: mines while you work too")
        self.idle_radio.setChecked(True)
        group = QButtonGroup(self)
        for r in (self.idle_radio, self.always_radio):
            group.addButton(r)
        self._add(
            Step.MINING_MODE,
            _page(
                "When should it mine?", "You can change this any time in Settings.", self.idle_radio, self.always_radio
            ),
        )

        self.network_radios = {chain: QRadioButton(label) for chain, label in CHAINS}
        group = QButtonGroup(self)
        for r in self.network_radios.values():
            group.addButton(r)
        saved = self.model.config.get("network", {}).get("chain", PRACTICE)
        self.network_radios.get(saved, self.network_radios[PRACTICE]).setChecked(True)
        self._add(
            Step.NETWORK,
            _page(
                "Which network?",
                "The public test network pays for training shared with other volunteers. The "
                "practice network runs on this computer only, to see how mining works. If the test network cannot be "
                "reached, the window says so and offers the practice network. You can change this in Settings.",
                *self.network_radios.values(),
            ),
        )

    def _add(self, step: Step, page: QWidget) -> None:
        self.pages[step] = page
        self.stack.addWidget(page)

    def _fill_devices(self, devices: list[api.Device]) -> None:
        self.device.clear()
        self.device.addItem("Automatic (the fastest found)", "auto")
        for d in devices:
            self.device.addItem(d.name or d.id, d.id)

    # -- navigation ---------------------------------------------------------------------------
    def _collect(self) -> None:
        a, step = self.flow.answers, self.flow.current
        if step is Step.WELCOME:
            a.action = (
                Action.CREATE
                if self.create_radio.isChecked()
                else (Action.RESTORE if self.restore_radio.isChecked() else None)
            )
        elif step is Step.PASSWORD:
            a.password, a.password_repeat = self.password.text(), self.password_repeat.text()
        elif step is Step.CONFIRM_SEED:
            a.confirm_words = {pos: f.text() for pos, f in zip(a.confirm_positions, self.confirm_fields)}
        elif step is Step.RESTORE_SEED:
            a.phrase, a.passphrase = " ".join(self.restore_text.toPlainText().split()), self.restore_passphrase.text()
        elif step is Step.DEVICE:
            a.device = self.device.currentData() or "auto"
        elif step is Step.MINING_MODE:
            a.mode = "always" if self.always_radio.isChecked() else "when-idle"
        elif step is Step.NETWORK:
            a.chain = next((c for c, r in self.network_radios.items() if r.isChecked()), "")

    def go_next(self) -> None:
        self._collect()
        a = self.flow.answers
        try:
            if needs_wallet_call(self.flow.current, a):
                problem = missing(Step.PASSWORD, a)
                if problem:
                    raise FlowError(problem)
                self._make_wallet()
                return
            self.flow.advance()
        except FlowError as exc:
            self.error.setText(str(exc))
            return
        if self.flow.finished:
            self._save_choices()
            return
        self._show()

    def go_back(self) -> None:
        if self.flow.can_go_back():
            self.flow.back()
            self._show()

    def _make_wallet(self) -> None:
        a = self.flow.answers
        self._busy("Creating your wallet…" if a.action is Action.CREATE else "Restoring your wallet…")
        if a.action is Action.CREATE:
            call = self.model.call(api.WALLET_CREATE, {"password": a.password})
        else:
            call = self.model.call(
                api.WALLET_RESTORE, {"phrase": a.phrase, "password": a.password, "passphrase": a.passphrase}
            )
        call.then(self._wallet_made, self._wallet_failed)

    def _wallet_made(self, result: Any) -> None:
        a = self.flow.answers
        if a.action is Action.CREATE:
            a.phrase = str(result.get("phrase", "")) if isinstance(result, dict) else ""
        a.wallet_created = True
        a.password = a.password_repeat = ""  # not needed any more; do not keep it around
        self.password.clear()
        self.password_repeat.clear()
        self.model.refresh_status()
        self.flow.advance()
        self._show()

    def _wallet_failed(self, error: RpcError) -> None:
        self._busy("")
        self.error.setText(f"The wallet was not made: {error.message}")

    def _save_choices(self) -> None:
        a = self.flow.answers
        self._busy("Saving your choices…")
        current = self.model.config.get("network", {})

        def failed(e: RpcError) -> None:
            self._busy("")
            self.error.setText(f"Not saved: {e.message}")

        def network(_r: Any) -> None:
            if a.chain == current.get("chain", PRACTICE):
                self.accept()
                return
            self.network_changed = True  # the service joins it at its next start (the window says so)
            self.model.set_config("network", network_change(a.chain, current)).then(lambda _r: self.accept(), failed)

        self.model.set_config("mining", {"device": a.device, "mode": a.mode}).then(network, failed)

    def _busy(self, text: str) -> None:
        self.next_button.setEnabled(not text)
        self.back_button.setEnabled(not text and self.flow.can_go_back())
        self.error.setText(text)

    def _show(self) -> None:
        step = self.flow.current
        if step is Step.SHOW_SEED:
            self.seed_grid.set_phrase(self.flow.answers.phrase)
        if step is Step.CONFIRM_SEED:
            for pos, f in zip(self.flow.answers.confirm_positions, self.confirm_fields):
                f.setPlaceholderText(f"word #{pos + 1}")
                f.clear()
        self.stack.setCurrentWidget(self.pages[step])
        number, total = self.flow.progress()
        self.step_label.setText(f"Step {number} of {total}")
        self.error.setText("")
        self.next_button.setEnabled(True)
        self.next_button.setText("Finish" if step is Step.MINING_MODE else "Next")
        self.back_button.setEnabled(self.flow.can_go_back())
