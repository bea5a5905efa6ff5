#!/bin/sh
# `make dist` on Linux: the PyInstaller bundle, its smoke test, the .deb and the AppImage, with a
# report of sizes and build times in dist/BUILD-REPORT.txt.
#   PY=.venv/bin/python packaging/linux/build.sh          VARIANT=cuda for the CUDA-torch names
set -eu
root_dir=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root_dir"
PY=${PY:-.venv/bin/python}
VARIANT=${VARIANT:-cpu}
report=dist/BUILD-REPORT.txt

# Debian packages the build needs (all from Debian's own repositories; nothing is downloaded from
# elsewhere). Installed on the fly when running as root with apt, as on the build machines.
need=""
command -v dpkg-deb >/dev/null || need="$need dpkg"
command -v mksquashfs >/dev/null || need="$need squashfs-tools"
command -v gcc >/dev/null || need="$need gcc libc6-dev"
[ -f /usr/include/squashfuse/ll.h ] || need="$need libsquashfuse-dev"
[ -f /usr/include/fuse3/fuse_lowlevel.h ] || need="$need libfuse3-dev"
for lib in zstd lz4 lzo2 lzma z; do
    [ -f "/usr/lib/$(gcc -print-multiarch 2>/dev/null)/lib$lib.a" ] || need="$need lib$lib"
done
need=$(echo "$need" | sed -e 's/libzstd/libzstd-dev/' -e 's/liblz4/liblz4-dev/' -e 's/liblzo2/liblzo2-dev/' \
    -e 's/liblzma/liblzma-dev/' -e 's/ libz\b/ zlib1g-dev/')
if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing build packages:$need"
        # shellcheck disable=SC2086 # $need is a list of package names
        apt-get install -y -qq $need >/dev/null || { apt-get update -qq && apt-get install -y -qq $need; }
    else
        echo "missing build packages; install them with: sudo apt-get install$need" >&2
        exit 1
    fi
fi

now() { date +%s; }
size() { du -sh --apparent-size "$1" | cut -f1; }
mkdir -p dist build
t0=$(now)

echo "== icons"
rc=0; "$PY" packaging/icons/make_icons.py --check || rc=$?
if [ "$rc" = 3 ]; then
    echo "resources/icons are stale: run $PY packaging/icons/make_icons.py and commit them" >&2; exit 1
elif [ "$rc" != 0 ]; then
    exit "$rc"
fi

echo "== pyinstaller (a few minutes: torch alone is ~500 MB of libraries)"
QT_QPA_PLATFORM=offscreen "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/pyinstaller/potminer.spec
t1=$(now)

echo "== smoke: the bundled console program starts"
dist/potminer/potminer --version

echo "== .deb"
deb=$(packaging/linux/build_deb.sh dist/potminer dist "$VARIANT")
t2=$(now)

echo "== AppImage"
appimage=$(packaging/linux/build_appimage.sh dist/potminer dist "$VARIANT")
t3=$(now)

{
    echo "PoT Miner $(dist/potminer/potminer --version | cut -d' ' -f2), variant $VARIANT, built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores"
    echo "bundle    dist/potminer/            $(size dist/potminer)  ($(find dist/potminer -type f | wc -l) files)"
    echo "  torch   _internal/torch/          $(size dist/potminer/_internal/torch 2>/dev/null || echo -)"
    echo "  Qt      _internal/PySide6/        $(size dist/potminer/_internal/PySide6 2>/dev/null || echo -)"
    echo "deb       $deb  $(size "$deb")"
    echo "AppImage  $appimage  $(size "$appimage")"
    echo "time      pyinstaller $((t1 - t0)) s, deb $((t2 - t1)) s, AppImage $((t3 - t2)) s, total $((t3 - t0)) s"
} | tee "$report"
