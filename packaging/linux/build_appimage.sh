#!/bin/sh
# Make the AppImage from the PyInstaller bundle:
#   packaging/linux/build_appimage.sh BUNDLE_DIR OUT_DIR [VARIANT]
# Steps: build our AppImage runtime (runtime.c, static, Debian's squashfuse + libfuse3), lay out the
# AppDir (AppRun, desktop entry, icon, .DirIcon, the bundle in potminer/), squash it with mksquashfs
# (zstd, which the runtime reads) and append the image to the runtime. appimagetool is not used: it and
# the upstream runtime are only published as GitHub downloads. Where appimagetool exists,
#   appimagetool build/appimage/AppDir
# finishes the same AppDir with the upstream runtime instead.
set -eu
bundle=$(cd "${1:?usage: build_appimage.sh BUNDLE_DIR OUT_DIR [VARIANT]}" && pwd)
out=${2:?usage}
variant=${3:-cpu}
here=$(cd "$(dirname "$0")" && pwd)
root_dir=$(cd "$here/../.." && pwd)
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$root_dir/app/__init__.py")
work="$root_dir/build/appimage"
appdir="$work/AppDir"
case $(uname -m) in x86_64) arch=x86_64;; aarch64) arch=aarch64;; *) arch=$(uname -m);; esac

mkdir -p "$work" "$out"
"$here/appimage/build_runtime.sh" "$work/runtime"

rm -rf "$appdir"
mkdir -p "$appdir/usr/share/applications" "$appdir/usr/share/icons/hicolor/256x256/apps"
install -m 0755 "$here/appimage/AppRun" "$appdir/AppRun"
install -m 0644 "$here/potminer.desktop" "$appdir/potminer.desktop"
install -m 0644 "$here/potminer.desktop" "$appdir/usr/share/applications/potminer.desktop"
install -m 0644 "$root_dir/resources/icons/potminer-256.png" "$appdir/potminer.png"
install -m 0644 "$root_dir/resources/icons/potminer-256.png" "$appdir/usr/share/icons/hicolor/256x256/apps/potminer.png"
ln -s potminer.png "$appdir/.DirIcon"
cp -a "$bundle" "$appdir/potminer"

suffix=""; [ "$variant" = cuda ] && suffix="-cuda"
image="$out/PoT_Miner${suffix}-${version}-${arch}.AppImage"
rm -f "$work/image.squashfs"
# -root-owned: files belong to whoever mounts; -all-time/-mkfs-time 0: the same input gives the same image.
mksquashfs "$appdir" "$work/image.squashfs" -comp zstd -b 1M -root-owned -noappend -no-progress \
    -all-time 0 -mkfs-time 0 -quiet
cat "$work/runtime" "$work/image.squashfs" > "$image"
chmod 0755 "$image"
rm -f "$work/image.squashfs"
echo "$image"
