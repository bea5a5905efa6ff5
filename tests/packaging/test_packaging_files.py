"""The packaging sources agree with each other and with the app, without building anything (fast; runs
in the normal test CI). The built artefacts are tested in test_bundle.py."""

from __future__ import annotations

import ast
import configparser
import plistlib
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from app import config as app_config
from app.daemon import autostart

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "packaging"
ICONS = ROOT / "resources" / "icons"


def test_spec_is_python_and_names_existing_entry_scripts() -> None:
    spec = (PKG / "pyinstaller" / "potminer.spec").read_text()
    ast.parse(spec)
    for script in re.findall(r'"(potminer_(?:cli|gui)\.py)"', spec):
        assert (PKG / "pyinstaller" / script).is_file(), script
    assert 'name="potminer"' in spec and 'name="potminer-gui"' in spec
    gui_entry = (PKG / "pyinstaller" / "potminer_gui.py").read_text()
    assert "from app.ui.main import main" in gui_entry
    cli_entry = (PKG / "pyinstaller" / "potminer_cli.py").read_text()
    assert "from app.cli import main" in cli_entry


def test_gui_entry_exists_in_the_app() -> None:
    """The spec bundles app/ui/main.py's main(); the window engineer's module must keep that name."""
    tree = ast.parse((ROOT / "app" / "ui" / "main.py").read_text())
    assert any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)


def test_desktop_entry() -> None:
    path = PKG / "linux" / "potminer.desktop"
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(path)
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Exec"] == "potminer-gui" and section["Icon"] == "potminer"
    assert section["Terminal"] == "false"
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("size", [16, 22, 24, 32, 48, 64, 128, 256, 512, 1024])
def test_png_icons_have_their_size(size: int) -> None:
    assert png_size(ICONS / f"potminer-{size}.png") == (size, size)


def test_ico_and_icns_are_real_multi_size_icons() -> None:
    ico = (ICONS / "potminer.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind) == (0, 1) and count >= 6  # ICONDIR: an icon with 16..256 px entries
    icns = (ICONS / "potminer.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    assert b"ic10" in icns  # the 1024 px (512@2x) entry macOS uses for Retina


def test_icons_are_up_to_date_with_the_svg() -> None:
    result = subprocess.run(
        [sys.executable, str(PKG / "icons" / "make_icons.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_info_plist() -> None:
    info = plistlib.loads((PKG / "macos" / "Info.plist").read_bytes())
    assert info["CFBundleExecutable"] == "potminer-gui"  # a double-click opens the window
    assert (ICONS / info["CFBundleIconFile"]).is_file()
    assert info["CFBundleIdentifier"].startswith("org.potminer.")
    assert info["LSBackgroundOnly"] is False and info["NSHighResolutionCapable"] is True
    entitlements = plistlib.loads((PKG / "macos" / "entitlements.plist").read_bytes())
    assert all(value is True for value in entitlements.values())


def test_launch_agent_template_matches_the_apps_own() -> None:
    """The template for MDM deployments and app/daemon/autostart.py write the same agent."""
    template = (PKG / "macos" / "org.potminer.daemon.plist.in").read_text()
    app = "/Applications/PoT Miner.app"
    logs = Path("/Users/u/Library/Logs/potminer")
    ours = plistlib.loads(template.replace("@APP@", app).replace("@LOGS@", str(logs)).encode())
    theirs = plistlib.loads(autostart.launch_agent([f"{app}/Contents/MacOS/potminer-gui", "--hidden"], logs))
    assert ours == theirs
    assert ours["Label"] == autostart.LABEL


def test_inno_setup_script_agrees_with_the_app() -> None:
    iss = (PKG / "windows" / "potminer.iss").read_text()
    assert f'#define RunValue "{autostart.RUN_VALUE}"' in iss
    assert autostart.RUN_KEY in iss  # the same HKCU Run key the app's setting writes
    assert "{localappdata}\\" + app_config.APP_NAME in iss  # platformdirs' user_data_dir on Windows
    icon = re.search(r"^SetupIconFile=(.+)$", iss, re.M).group(1)  # type: ignore[union-attr]
    assert (PKG / "windows" / icon.replace("\\", "/")).resolve().is_file()
    assert "potminer-gui.exe" in iss and "potminer.exe" in iss
    # The uninstaller keeps the wallet unless asked: the question defaults to No, silent keeps it.
    assert "MB_DEFBUTTON2" in iss and "UninstallSilent" in iss


def test_deb_control_template_fields() -> None:
    control = (PKG / "linux" / "deb" / "control.in").read_text()
    for field in ("Package: potminer", "Version: @VERSION@", "Architecture: @ARCH@", "Depends:", "Description:"):
        assert field in control
    assert "libxcb-cursor0" in control  # Qt >= 6.5's xcb plugin refuses to load without it


def test_workflow_is_valid() -> None:
    """The vendored GitHub Actions schema (check-jsonschema comes with packaging/requirements-dist.txt)."""
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is a build-only tool (make dist installs it)")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *(str(p) for p in sorted((ROOT / ".github" / "workflows").glob("*.yml"))),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not shutil.which("sh"), reason="no POSIX shell")
def test_shell_scripts_parse() -> None:
    scripts = [
        *(PKG / "linux").glob("*.sh"),
        *(PKG / "linux" / "appimage").glob("*.sh"),
        PKG / "linux" / "appimage" / "AppRun",
        *(PKG / "macos").glob("*.sh"),
        *(PKG / "ci").glob("*.sh"),
    ]
    for script in scripts:
        result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr}"
