#!/usr/bin/env bash
# One-time set-up on Debian (as root): system libraries, then a virtual
# environment in .venv with the pinned Python packages. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv libportaudio2 jackd2 xvfb espeak-ng sox libopus0 libsndfile1
  libvo-amrwbenc0 libopencore-amrwb0 libspeex1 libcodec2-1.0
  libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
  libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-render-util0
  libxcb-image0 libxcb-xkb1 libfontconfig1 libdbus-1-3
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# python3 may come from elsewhere (pyenv): only install it if there is none.
if command -v python3 >/dev/null 2>&1 && python3 -c 'import venv' 2>/dev/null; then
  missing=("${missing[@]/python3}")
  missing=("${missing[@]/python3-venv}")
fi
if [ -n "$(echo "${missing[@]:-}" | tr -d ' ')" ]; then
  echo "setup: installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2068
  apt-get install -y -qq --no-install-recommends ${missing[@]} >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q -c constraints.txt -e ".[test]"
echo "setup: done (.venv ready)"
