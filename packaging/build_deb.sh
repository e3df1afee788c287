#!/usr/bin/env bash
# Build the Debian package: PyInstaller folder -> /opt/streamvox, a
# /usr/bin/streamvox link, a .desktop entry and icons; Depends computed by
# dpkg-shlibdeps from the ELF files (plus the libraries loaded with ctypes).
#
#   packaging/build_deb.sh [--fast | --xz] [--out DIR]
#
#   (default)  zstd level 9: ~15 s of compression here, 217 MiB.
#   --fast     zstd level 1 (CI): the same files, a bigger .deb.
#   --xz       xz level 6: the smallest .deb (181 MiB) but ~10 minutes of
#              compression on two busy cores; also readable by dpkg < 1.21.
#   --out DIR  where the .deb goes (default build/deb).
#
# The PyInstaller work folder (build/deb/pyinstaller/work) is kept between
# runs; PyInstaller reuses what has not changed.
#
# Environment: PYTHON (default .venv/bin/python, else python3) is the
# interpreter whose packages are frozen; PyInstaller is installed into it
# from the `package` extra, pinned by constraints.txt. Prints the .deb path
# as the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

COMPRESS=(-Zzstd -z9)
OUT="$ROOT/build/deb"
while [ $# -gt 0 ]; do
  case "$1" in
    --fast) COMPRESS=(-Zzstd -z1) ;;
    --xz) COMPRESS=(-Zxz -z6) ;;
    --out) OUT=$(realpath -m "$2"); shift ;;
    *) echo "build_deb: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
# System packages the build needs: dpkg-shlibdeps and strip, and the shared
# libpython that PyInstaller bundles (Debian's python3 does not pull it in).
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
has_libpython() {
  "$PYTHON" -c 'import pathlib, sys, sysconfig
name = sysconfig.get_config_var("INSTSONAME") or ""
dirs = [sysconfig.get_config_var("LIBDIR") or "", "/usr/lib/" + (sysconfig.get_config_var("MULTIARCH") or "")]
sys.exit(0 if name and any((pathlib.Path(d) / name).is_file() for d in dirs) else 1)'
}
needed=()
command -v dpkg-shlibdeps >/dev/null || needed+=(dpkg-dev)
command -v strip >/dev/null || needed+=(binutils)
has_libpython || needed+=("libpython$PYVER")
# The bundled Qt Wayland plugins link these; dpkg-shlibdeps must find them to
# turn them into Depends (a fresh Debian without a desktop lacks them).
for pkg in libwayland-client0 libwayland-cursor0 libwayland-egl1; do
  dpkg -s "$pkg" >/dev/null 2>&1 || needed+=("$pkg")
done
if [ ${#needed[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "build_deb: installing ${needed[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
  else
    echo "build_deb: missing system packages: ${needed[*]} (apt install them)" >&2
    exit 1
  fi
fi

WORK="$ROOT/build/deb"
STAGE="$WORK/root"
VERSION=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
ARCH=$(dpkg --print-architecture)
DEB="$OUT/streamvox_${VERSION}_${ARCH}.deb"
start=$(date +%s)

echo "build_deb: installing the packaging tools (pyproject extra 'package', constraints.txt)"
mapfile -t PKG_REQS < <("$PYTHON" -c 'import tomllib
for r in tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["package"]:
    print(r)')
"$PYTHON" -m pip install -q -c constraints.txt "${PKG_REQS[@]}"

echo "build_deb: freezing with PyInstaller"
STREAMVOX_PYI_SYSTEM_LIBS=1 "$PYTHON" -m PyInstaller \
  --noconfirm --log-level WARN \
  --distpath "$WORK/pyinstaller/dist" --workpath "$WORK/pyinstaller/work" \
  packaging/pyinstaller/streamvox.spec
frozen=$(date +%s)

echo "build_deb: staging $STAGE"
rm -rf "$STAGE"
mkdir -p "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
  "$STAGE/usr/share/icons/hicolor/scalable/apps" "$STAGE/usr/share/icons/hicolor/256x256/apps" \
  "$STAGE/usr/share/doc/streamvox" "$STAGE/DEBIAN"
cp -a "$WORK/pyinstaller/dist/streamvox" "$STAGE/opt/streamvox"
# torch's own libraries carry full symbol tables (85 MiB of libtorch_cpu);
# strip those only: stripping auditwheel-patched libraries (numpy.libs, ...)
# corrupts them.
strip --strip-unneeded "$STAGE"/opt/streamvox/_internal/torch/lib/lib{torch_cpu,torch_python,c10}.so
ln -s /opt/streamvox/streamvox "$STAGE/usr/bin/streamvox"
install -m 644 resources/linux/streamvox.desktop "$STAGE/usr/share/applications/"
install -m 644 resources/icons/streamvox.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/"
install -m 644 resources/icons/streamvox.png "$STAGE/usr/share/icons/hicolor/256x256/apps/"
cat > "$STAGE/usr/share/doc/streamvox/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: streamvox
Comment: /opt/streamvox bundles Python, PyTorch, Qt 6 (PySide6, LGPLv3), NumPy,
 SciPy and the other packages listed in constraints.txt, each under its own
 licence (see the dist-info folders under /opt/streamvox/_internal).

Files: *
License: MIT
EOF
chmod -R u+rwX,go+rX,go-w "$STAGE"

echo "build_deb: computing Depends (dpkg-shlibdeps)"
depends=$(packaging/deb_depends.sh "$STAGE/opt/streamvox")
# ctypes loads these by name at run time, so no ELF file names them:
# PortAudio (sounddevice), libopus (opuslib_next) and the classic speech
# codecs (engine/classic/native_lib.py: AMR-WB, Speex, Codec 2). libsndfile
# ships with the soundfile wheel and is bundled.
depends="$depends, libportaudio2, libopus0"
depends="$depends, libvo-amrwbenc0, libopencore-amrwb0, libspeex1, libcodec2-1.0"

installed_kb=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<EOF
Package: streamvox
Version: $VERSION
Architecture: $ARCH
Maintainer: streamvox developers <streamvox@localhost>
Installed-Size: $installed_kb
Depends: $depends
Recommends: fonts-dejavu-core
Section: sound
Priority: optional
Description: hear your voice live through a streaming neural codec and vocoder
 streamvox runs a microphone through TinyTransformerCodec (a 9.3 kbit/s neural
 speech codec) and Streaming Vocos (a neural vocoder) and plays the result into
 headphones in real time, with A/B switching against the time-aligned dry
 signal, level and latency meters, and offline tools (process, evaluate,
 bench, self-test). Trained weights are included; it works offline.
EOF

mkdir -p "$OUT"
echo "build_deb: dpkg-deb ${COMPRESS[*]}"
dpkg-deb --root-owner-group "${COMPRESS[@]}" --build "$STAGE" "$DEB" >/dev/null
end=$(date +%s)
echo "build_deb: folder $(du -sh "$STAGE/opt/streamvox" | cut -f1), package $(du -h "$DEB" | cut -f1);" \
  "PyInstaller $((frozen - start)) s, total $((end - start)) s"
echo "$DEB"
