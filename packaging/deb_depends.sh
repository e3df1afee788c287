#!/usr/bin/env bash
# Print the Debian Depends list for every ELF file under DIR, as dpkg-shlibdeps
# computes it from the installed packages' shlibs/symbols files. Libraries
# found inside DIR itself (the bundled ones) need nothing.
#
#   packaging/deb_depends.sh DIR
set -euo pipefail
dir=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# dpkg-shlibdeps wants to run inside a source package: give it a minimal one.
mkdir -p "$tmp/debian"
printf 'Source: streamvox\n\nPackage: streamvox\nArchitecture: any\n' >"$tmp/debian/control"

# ELF files (shared objects, extension modules, the executable).
mapfile -t elves < <(
  find "$dir" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) -print0 |
    xargs -0 -r -n 200 sh -c 'for f; do [ "$(head -c 4 "$f" | od -An -c | tr -d " ")" = "177ELF" ] && echo "$f"; done' _
)
# Every folder of the bundle that holds libraries, so that bundled ones are found there.
mapfile -t libdirs < <(find "$dir" -type f -name '*.so*' -printf '%h\n' | sort -u)

# (bundled torch libraries have unversioned names: dpkg-shlibdeps says so; not a problem)
line=$(cd "$tmp" && dpkg-shlibdeps -O --ignore-missing-info --warnings=0 \
  "${libdirs[@]/#/-l}" "${elves[@]}" 2> >(grep -v "extract name and version" >&2))
echo "${line#shlibs:Depends=}"
