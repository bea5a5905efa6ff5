"""The built installers work: the .deb installs into a temporary root and its app runs; the AppImage runs
without FUSE; the PyInstaller folder runs on every OS (the workflow's smoke test on Windows and macOS).

Needs the artefacts of `make dist` (or the workflow's pyinstaller step) in $POTMINER_DIST (default
dist/). Without them each test is skipped with the reason: the test CI must stay under 15 minutes and
does not build installers. POTMINER_REQUIRE_DIST=1 (the build workflow) turns those skips into failures.

What "runs" means here, each step a separate process of the bundled executables:
  potminer --version;
  potminer-gui --datadir D, offscreen: the window opens, starts the daemon (potminer daemon, detached),
  and quits by itself (POTMINER_SMOKE_QUIT_AFTER, see packaging/pyinstaller/potminer_gui.py) with 0;
  potminer status --datadir D answers from that daemon; potminer stop --datadir D ends it, and no
  process of the bundle is left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from app import __version__

ROOT = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("POTMINER_DIST") or ROOT / "dist")
if not DIST.is_absolute():
    DIST = ROOT / DIST
REQUIRE = os.environ.get("POTMINER_REQUIRE_DIST") == "1"
EXE = ".exe" if sys.platform == "win32" else ""


def need(path: Path | None, what: str) -> Path:
    if path is not None and path.exists():
        return path
    reason = (
        f"no {what} in {DIST}: built by `make dist` (or the build workflow), not by the test CI, "
        "which must stay under 15 minutes"
    )
    if REQUIRE:
        pytest.fail(reason)
    pytest.skip(reason)


def one(pattern: str) -> Path | None:
    found = sorted(DIST.glob(pattern))
    return found[-1] if found else None


def isolated_env(tmp: Path) -> dict[str, str]:
    """The bundle sees only tmp: its own HOME, XDG folders and temp dir, offscreen Qt, no real keyring."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "QT_"))}
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local/state"),
        LOCALAPPDATA=str(home / "AppData/Local"),
        APPDATA=str(home / "AppData/Roaming"),
        QT_QPA_PLATFORM="offscreen",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
    )
    return env


def run(cmd: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def bundle_processes(bin_dir: Path) -> list[psutil.Process]:
    """Running processes whose executable is one of this bundle's."""
    out = []
    for proc in psutil.process_iter(["exe"]):
        exe = proc.info.get("exe") or ""
        if exe and Path(exe).parent == bin_dir.resolve():
            out.append(proc)
    return out


def exercise(bin_dir: Path, tmp: Path) -> None:
    """Version, window + daemon + status, clean stop; see the module docstring."""
    cli, gui = bin_dir / f"potminer{EXE}", bin_dir / f"potminer-gui{EXE}"
    env = isolated_env(tmp)
    version = run([str(cli), "--version"], env)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"potminer {__version__}"
    if not gui.exists():
        pytest.fail(f"{gui.name} is missing from the bundle")

    datadir = tmp / "data"
    datadir.mkdir(parents=True, exist_ok=True)
    # The shipped testnet genesis (read from the bundle's resources/); loopback only, no mDNS: the
    # daemon the window starts talks to nothing beyond this machine.
    (datadir / "config.toml").write_text(
        '[network]\nchain = "testnet"\nlisten = ["/ip4/127.0.0.1/tcp/0"]\nmdns = false\n'
    )
    # Output to a file, not a pipe: the daemon the window starts inherits the window's stdout and
    # keeps it open after the window has quit.
    window_log = tmp / "window.out"
    with window_log.open("w") as out_file:
        window = subprocess.Popen(
            [str(gui), "--datadir", str(datadir)],
            env={**env, "POTMINER_SMOKE_QUIT_AFTER": "8"},
            stdout=out_file,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            window.wait(timeout=90)
        except subprocess.TimeoutExpired:
            window.kill()
            window.wait()
            pytest.fail(f"the window did not quit by itself:\n{window_log.read_text(errors='replace')}")
        out = window_log.read_text(errors="replace")
        assert window.returncode == 0, out
        assert "smoke: visible windows:" in out and "MainWindow" in out, out

        deadline = time.monotonic() + 120
        while True:  # the daemon the window started (detached) loads torch and opens its store
            status = run([str(cli), "status", "--datadir", str(datadir), "--json"], env, timeout=60)
            if status.returncode == 0:
                break
            if time.monotonic() > deadline:
                log = "\n".join(p.read_text(errors="replace")[-3000:] for p in datadir.rglob("*.log"))
                pytest.fail(f"the daemon never answered status: {status.stdout}{status.stderr}\n{log}")
            time.sleep(1)
        assert '"mining"' in status.stdout and "pot-testnet" in status.stdout, status.stdout
    finally:
        stop = run([str(cli), "stop", "--datadir", str(datadir), "--wait", "60"], env, timeout=90)
        deadline = time.monotonic() + 30
        while bundle_processes(bin_dir) and time.monotonic() < deadline:
            time.sleep(0.5)
        leftovers = bundle_processes(bin_dir)
        for proc in leftovers:
            proc.kill()
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert not leftovers, f"still running after stop: {[p.cmdline() for p in leftovers]}"


@pytest.mark.timeout(600)
def test_bundle_runs(tmp_path: Path) -> None:
    """The PyInstaller folder itself (every OS)."""
    bin_dir = need(DIST / "potminer", "PyInstaller bundle (potminer/)")
    exercise(bin_dir, tmp_path)


@pytest.mark.skipif(sys.platform != "linux", reason="a .deb is a Linux package")
@pytest.mark.timeout(600)
def test_deb_installs_into_a_temporary_root_and_runs(tmp_path: Path) -> None:
    deb = need(one("potminer*.deb"), ".deb")
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb is not installed")
    fields = run(["dpkg-deb", "--field", str(deb), "Package", "Version", "Architecture", "Depends"], dict(os.environ))
    assert fields.returncode == 0, fields.stderr
    assert "Package: potminer" in fields.stdout and f"Version: {__version__}" in fields.stdout
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)

    for link in ("potminer", "potminer-gui"):  # absolute links into /opt, so resolve them against root
        target = os.readlink(root / "usr/bin" / link)
        assert target == f"/opt/potminer/{link}"
        assert os.access(root / target.lstrip("/"), os.X_OK)
    desktop = (root / "usr/share/applications/potminer.desktop").read_text()
    assert "Exec=potminer-gui" in desktop and "Icon=potminer" in desktop
    for size in (16, 32, 48, 128, 256, 512):
        assert (root / f"usr/share/icons/hicolor/{size}x{size}/apps/potminer.png").is_file()
    assert (root / "usr/share/icons/hicolor/scalable/apps/potminer.svg").is_file()
    assert (root / "opt/potminer/_internal/resources/chains/testnet/genesis.json").is_file()
    exercise(root / "opt/potminer", tmp_path / "run")


@pytest.mark.skipif(sys.platform != "linux", reason="an AppImage is a Linux executable")
@pytest.mark.timeout(600)
def test_appimage_runs_without_fuse(tmp_path: Path) -> None:
    image = need(one("PoT_Miner*.AppImage"), "AppImage")
    head = image.read_bytes()[:16]
    assert head[:4] == b"\x7fELF" and head[8:11] == b"AI\x02", "not an AppImage type 2"
    env = isolated_env(tmp_path)
    offset = run([str(image), "--appimage-offset"], env)
    assert offset.returncode == 0 and int(offset.stdout) > 0
    assert image.read_bytes()[int(offset.stdout) :][:4] == b"hsqs", "no SquashFS image after the runtime"
    # Extract-and-run: what the runtime does where FUSE is missing (containers, CI); no mount needed.
    version = run([str(image), "--version"], {**env, "APPIMAGE_EXTRACT_AND_RUN": "1"}, timeout=300)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"potminer {__version__}"
    extracted = next((tmp_path / "home/.cache/potminer/appimage").iterdir())
    for name in (
        "AppRun",
        "potminer.desktop",
        "potminer.png",
        ".DirIcon",
        "potminer/potminer",
        "potminer/potminer-gui",
    ):
        assert (extracted / name).exists(), name
