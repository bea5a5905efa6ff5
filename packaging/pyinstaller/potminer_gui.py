"""Frozen entry of the windowed executable `potminer-gui`: app/ui/main.py's main().

POTMINER_SMOKE_QUIT_AFTER=SECONDS (the installers' smoke test, tests/packaging) makes the window quit
by itself after that long, printing which top-level windows were visible: proof that the bundled Qt,
its platform plugin and the window all load, without a person to close it.
"""

import multiprocessing
import os
import sys


def _arm_smoke_quit(seconds: float) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])  # app.ui.main reuses this instance

    def report_and_quit() -> None:
        shown = sorted(type(w).__name__ for w in app.topLevelWidgets() if w.isVisible())
        print(f"smoke: visible windows: {', '.join(shown) or 'none'}", flush=True)
        app.quit()

    QTimer.singleShot(int(seconds * 1000), report_and_quit)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    try:
        from app.ui.main import main
    except ImportError as exc:  # a build made before the window existed
        print(f"potminer-gui: the window is not in this build ({exc}); use `potminer`", file=sys.stderr)
        sys.exit(3)
    if os.environ.get("POTMINER_SMOKE_QUIT_AFTER"):
        _arm_smoke_quit(float(os.environ["POTMINER_SMOKE_QUIT_AFTER"]))
    sys.exit(main())
