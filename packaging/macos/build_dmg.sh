#!/bin/sh
# Make the .dmg from the PyInstaller .app (macOS only: hdiutil, codesign, xcrun).
#   packaging/macos/build_dmg.sh "dist/PoT Miner.app" dist
# Signing and notarisation happen only when their secrets are set (CI on a release):
#   POTMINER_CODESIGN_IDENTITY   "Developer ID Application: ..." in the keychain (the spec signed the
#                                executables with it; here the .app is re-signed as a whole and the dmg signed)
#   POTMINER_NOTARY_PROFILE      a `xcrun notarytool store-credentials` profile name
# Without them the dmg is unsigned: it opens after right-click > Open (Gatekeeper), fine for testing.
set -eu
app=${1:?usage: build_dmg.sh APP OUT_DIR}
out=${2:?usage}
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$here/../../app/__init__.py")
arch=$(uname -m)
variant=${VARIANT:-cpu}
suffix=""; [ "$variant" != cpu ] && suffix="-$variant"
dmg="$out/PoT_Miner${suffix}-${version}-macos-${arch}.dmg"
identity=${POTMINER_CODESIGN_IDENTITY:-}

if [ -n "$identity" ]; then
    # Inside-out signing with the hardened runtime (notarisation requires it); --deep is deprecated for
    # signing, so nested code is signed first, then the bundle itself.
    find "$app/Contents" \( -name "*.dylib" -o -name "*.so" \) -type f -print0 |
        xargs -0 codesign --force --timestamp --options runtime --sign "$identity"
    for exe in "$app/Contents/MacOS/"*; do
        codesign --force --timestamp --options runtime \
            --entitlements "$here/entitlements.plist" --sign "$identity" "$exe"
    done
    codesign --force --timestamp --options runtime --entitlements "$here/entitlements.plist" \
        --sign "$identity" "$app"
    codesign --verify --strict --verbose=2 "$app"
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
mkdir -p "$out"
rm -f "$dmg"
# UDZO: zlib-compressed, readable on every supported macOS; ULFO (lzfse) is smaller but 10.11+ only
# and slower to verify on first open.
hdiutil create -volname "PoT Miner" -srcfolder "$stage" -fs HFS+ -format UDZO -imagekey zlib-level=9 -ov "$dmg"

if [ -n "$identity" ]; then
    codesign --force --timestamp --sign "$identity" "$dmg"
    if [ -n "${POTMINER_NOTARY_PROFILE:-}" ]; then
        "$here/notarize.sh" "$dmg"
    fi
fi
echo "$dmg"
