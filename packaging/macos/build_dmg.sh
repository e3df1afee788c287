#!/usr/bin/env bash
# macOS: streamvox.app from the shared PyInstaller spec, then a .dmg (hdiutil).
# NOT RUN OR TESTED: this project's machines run Linux only (see
# packaging/README.md for what is unverified).
#
#   packaging/macos/build_dmg.sh          (on a Mac, from any folder)
#
# Environment: PYTHON (default .venv/bin/python, else python3);
# STREAMVOX_OPUS_LIB (default: Homebrew's libopus.dylib if `brew` has opus),
# bundled for the Opus reference chain; CODESIGN_IDENTITY (optional) signs
# the app with the hardened runtime and packaging/macos/entitlements.plist.
# Writes build/macos/streamvox-VERSION.dmg and prints its path last.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(uname -s)" = Darwin ] || { echo "build_dmg: run this on macOS" >&2; exit 1; }

if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
VERSION=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
WORK=build/macos
APP="$WORK/dist/streamvox.app"
DMG="$WORK/streamvox-$VERSION.dmg"

# (macOS ships bash 3.2: no mapfile, no arrays under set -u; the
# requirements hold no spaces.)
PKG_REQS=$("$PYTHON" -c 'import tomllib
print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["package"]))')
# shellcheck disable=SC2086
"$PYTHON" -m pip install -q -c constraints.txt $PKG_REQS

if [ -z "${STREAMVOX_OPUS_LIB:-}" ] && command -v brew >/dev/null && brew --prefix opus >/dev/null 2>&1; then
  export STREAMVOX_OPUS_LIB="$(brew --prefix opus)/lib/libopus.dylib"
fi
[ -n "${STREAMVOX_OPUS_LIB:-}" ] || echo "build_dmg: no libopus (brew install opus): the opus chain will not work" >&2

"$PYTHON" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$WORK/dist" --workpath "$WORK/work" packaging/pyinstaller/streamvox.spec

# The frozen app checks itself before it is packed (offscreen Qt, no audio).
QT_QPA_PLATFORM=offscreen "$APP/Contents/MacOS/streamvox" self-test

if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  codesign --deep --force --timestamp --options runtime \
    --entitlements packaging/macos/entitlements.plist --sign "$CODESIGN_IDENTITY" "$APP"
  codesign --verify --deep --strict "$APP"
fi

rm -rf "$WORK/dmg" "$DMG"
mkdir -p "$WORK/dmg"
cp -R "$APP" "$WORK/dmg/"
ln -s /Applications "$WORK/dmg/Applications"
hdiutil create -volname "streamvox $VERSION" -srcfolder "$WORK/dmg" -ov -format UDZO "$DMG"
echo "$DMG"
