#!/bin/sh
# Package the PyInstaller bundle as a .deb:
#   packaging/linux/build_deb.sh BUNDLE_DIR OUT_DIR [VARIANT]      (VARIANT: cpu (default) or cuda)
# Layout: /opt/potminer/{potminer,potminer-gui,_internal}, /usr/bin symlinks to both executables,
# the desktop entry, hicolor icons (PNG sizes + scalable SVG) and the copyright file. No maintainer
# scripts: the desktop-file-utils and hicolor-icon-theme triggers refresh the menus and icon caches.
set -eu
bundle=$(cd "${1:?usage: build_deb.sh BUNDLE_DIR OUT_DIR [VARIANT]}" && pwd)
out=${2:?usage}
variant=${3:-cpu}
here=$(cd "$(dirname "$0")" && pwd)
root_dir=$(cd "$here/../.." && pwd)
version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$root_dir/app/__init__.py")
arch=$(dpkg --print-architecture)
stage=$(mktemp -d "${TMPDIR:-/tmp}/potminer-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" "$stage/usr/share/applications" \
         "$stage/usr/share/doc/potminer" "$stage/usr/share/icons/hicolor/scalable/apps"
cp -a "$bundle" "$stage/opt/potminer"
ln -s /opt/potminer/potminer "$stage/usr/bin/potminer"
ln -s /opt/potminer/potminer-gui "$stage/usr/bin/potminer-gui"
install -m 0644 "$here/potminer.desktop" "$stage/usr/share/applications/potminer.desktop"
install -m 0644 "$here/deb/copyright" "$stage/usr/share/doc/potminer/copyright"
# The node as a service for operators (docs/OPERATOR.md): the unit, an example instance config, the guide.
mkdir -p "$stage/usr/lib/systemd/system" "$stage/usr/share/doc/potminer/examples"
install -m 0644 "$root_dir/packaging/systemd/potminer-node@.service" "$stage/usr/lib/systemd/system/potminer-node@.service"
install -m 0644 "$root_dir/packaging/systemd/node.env.example" "$stage/usr/share/doc/potminer/examples/node.env"
install -m 0644 "$root_dir/docs/OPERATOR.md" "$stage/usr/share/doc/potminer/OPERATOR.md"
install -m 0644 "$root_dir/resources/icons/potminer.svg" "$stage/usr/share/icons/hicolor/scalable/apps/potminer.svg"
for size in 16 22 24 32 48 64 128 256 512; do
    mkdir -p "$stage/usr/share/icons/hicolor/${size}x${size}/apps"
    install -m 0644 "$root_dir/resources/icons/potminer-$size.png" \
        "$stage/usr/share/icons/hicolor/${size}x${size}/apps/potminer.png"
done
# Debian policy: directories 0755, files 0644 unless executable; the bundle's own modes are kept.
find "$stage" -type d -exec chmod 0755 {} +

installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
case $variant in cuda) torch_variant="with CUDA";; *) torch_variant="(CPU build)";; esac
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_kb/" \
    -e "s/@TORCH_VARIANT@/$torch_variant/" "$here/deb/control.in" > "$stage/DEBIAN/control"
suffix=""; [ "$variant" = cuda ] && suffix="-cuda"
mkdir -p "$out"
deb="$out/potminer${suffix}_${version}_${arch}.deb"
# Default xz -6 (dpkg's own default): the smallest download. Measured on 100 MB of libtorch_cpu.so with
# 2 threads: xz -6 21 MB in 84 s, xz -3 23 MB in 23 s, zstd -12 25 MB in 8 s. A quick local build can
# pass DEB_COMPRESS="-Zzstd -z12": every dpkg on a glibc >= 2.36 system (which the bundle needs) reads zstd.
# shellcheck disable=SC2086 # DEB_COMPRESS holds two options
dpkg-deb --root-owner-group ${DEB_COMPRESS:--Zxz -z6} --build "$stage" "$deb" >/dev/null
echo "$deb"
