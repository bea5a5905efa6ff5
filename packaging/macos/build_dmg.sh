#!/bin/sh
# Make the .dmg from the PyInstaller .app (macOS only: hdiutil, codesign, xcrun).
#   packaging/macos/build_dmg.sh "dist/PoT Miner.app" dist
# Signing and notarisation happen only when their secrets are set (CI on a release):
#   POTMINER_CODESIGN_IDENTITY   "Developer ID Application: ..." in the keychain; the spec signs the .app
#                                with it (set it for the pyinstaller run too); here it is verified and the dmg signed
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
    # PyInstaller signed the .app already (the spec passes the same identity and entitlements.plist to
    # EXE/BUNDLE; with an identity it turns on the hardened runtime and re-signs the whole bundle,
    # frameworks included). Re-signing single files here would break the frameworks' seals, so only
    # verify, as Gatekeeper will.
    codesign --verify --deep --strict --verbose=2 "$app"
    codesign --display --verbose=2 "$app" 2>&1 | grep -q "Authority=$identity" || {
        echo "$app is not signed by $identity: build it with POTMINER_CODESIGN_IDENTITY set" >&2; exit 1; }
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# ditto keeps the bundle exactly (symlinks in frameworks, extended attributes, signatures).
ditto "$app" "$stage/$(basename "$app")"
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
