#!/bin/sh
# Build the AppImage runtime (runtime.c) as a static executable with the AppImage type-2 magic.
#   packaging/linux/appimage/build_runtime.sh OUT
# Needs (Debian/Ubuntu): gcc libsquashfuse-dev libfuse3-dev libzstd-dev liblz4-dev liblzo2-dev zlib1g-dev liblzma-dev
set -eu
out=${1:?usage: build_runtime.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
# -static: the runtime must start on any distribution, before anything from the image is available.
# glibc warns that getpwnam() in libfuse's option parsing needs the host's NSS libraries when static;
# that path is only taken for the allow_other/user mount options, which the runtime never passes.
${CC:-gcc} -O2 -g0 -Wall -Wextra -Wno-unused-parameter -static -o "$out" "$here/runtime.c" \
    -lsquashfuse_ll -lsquashfuse -lfuse3 -lzstd -llz4 -llzo2 -llzma -lz -lpthread -ldl 2>"$out.warnings" \
    || { cat "$out.warnings" >&2; exit 1; }
grep -v "libfuse3.a(\|in statically linked" "$out.warnings" >&2 || true
rm -f "$out.warnings"
strip "$out"
# AppImage type 2 magic: "AI" and the type byte 0x02 in the ELF identification padding (bytes 8-10).
printf 'AI\002' | dd of="$out" bs=1 seek=8 count=3 conv=notrunc status=none
