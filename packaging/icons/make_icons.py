"""Render resources/icons/potminer.svg into every icon the installers need.

    python packaging/icons/make_icons.py            # writes resources/icons/*
    python packaging/icons/make_icons.py --check    # exits 3 if a committed icon is missing or stale

QtSvg (in PySide6-Essentials, already a runtime dependency) rasterises the SVG master, so the PNGs come
from the one drawing; Pillow (build-only, packaging/requirements-dist.txt) packs them into the Windows
.ico (16-256 px, PNG-compressed entries) and the macOS .icns (16-1024 px). PNG sizes follow the
freedesktop hicolor theme (16, 22, 24, 32, 48, 64, 128, 256, 512) plus 1024 for the macOS iconset.
Output is deterministic for one Qt version (no timestamps). Anti-aliasing differs a little between Qt
versions and platforms, so --check does not compare pixels: it checks that every file exists with the
right dimensions and that potminer.svg.sha256 (written with the icons) still matches the SVG.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ICONS = ROOT / "resources" / "icons"
SVG = ICONS / "potminer.svg"
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def render_png(size: int) -> bytes:
    """The SVG rasterised at size x size, as PNG bytes (antialiased, transparent corners)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"{SVG}: QtSvg cannot read it")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    # Re-encode through Pillow so the bytes do not depend on Qt's PNG writer version.
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(bytes(data))).convert("RGBA").save(out, "PNG", optimize=True)
    return out.getvalue()


def build() -> dict[str, bytes]:
    """Every output file name with its content."""
    from PIL import Image

    pngs = {size: render_png(size) for size in PNG_SIZES}
    files = {f"potminer-{size}.png": data for size, data in pngs.items()}
    images = {size: Image.open(io.BytesIO(data)) for size, data in pngs.items()}

    ico = io.BytesIO()
    images[256].save(
        ico,
        "ICO",
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=[images[s] for s in ICO_SIZES if s != 256],
        bitmap_format="png",
    )
    files["potminer.ico"] = ico.getvalue()

    icns = io.BytesIO()
    # Pillow's ICNS writer takes the largest image and the others through append_images; it writes
    # the ic04..ic10 PNG entries that current macOS reads.
    images[1024].save(icns, "ICNS", append_images=[images[s] for s in (16, 32, 64, 128, 256, 512)])
    files["potminer.icns"] = icns.getvalue()
    return files


STAMP = ICONS / "potminer.svg.sha256"
OUTPUTS = [f"potminer-{size}.png" for size in PNG_SIZES] + ["potminer.ico", "potminer.icns"]


def svg_digest() -> str:
    return hashlib.sha256(SVG.read_bytes()).hexdigest()


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG IHDR chunk (no imaging library needed)."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return (0, 0)
    return struct.unpack(">II", head[16:24])


def problems() -> list[str]:
    """What is missing or stale among the committed icons (empty when all is well)."""
    found = [f"missing: resources/icons/{name}" for name in OUTPUTS if not (ICONS / name).is_file()]
    found += [
        f"wrong size: resources/icons/potminer-{size}.png"
        for size in PNG_SIZES
        if (ICONS / f"potminer-{size}.png").is_file() and png_size(ICONS / f"potminer-{size}.png") != (size, size)
    ]
    if not STAMP.is_file() or STAMP.read_text().split()[0] != svg_digest():
        found.append("stale: resources/icons/potminer.svg changed since the icons were made")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the committed files")
    args = parser.parse_args(argv)
    if args.check:
        found = problems()
        for line in found:
            print(line, file=sys.stderr)
        return 3 if found else 0
    for name, data in build().items():
        path = ICONS / name
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
            print(f"wrote resources/icons/{name} ({len(data)} bytes)")
    STAMP.write_text(f"{svg_digest()}  potminer.svg\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
