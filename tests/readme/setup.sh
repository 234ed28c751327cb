#!/usr/bin/env bash
# Installs the command-line tools the README's blocks use besides the AWS CLI
# (requirements.txt): zip, curl and base64 (coreutils). Debian packages,
# installed when missing and we are root; otherwise the README suite fails
# naming what is missing.
set -uo pipefail
missing=()
command -v zip >/dev/null || missing+=(zip)
command -v curl >/dev/null || missing+=(curl)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "tests/readme/setup.sh: apt-get install ${missing[*]}"
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } ||
    { echo "tests/readme/setup.sh: could not install ${missing[*]}" >&2; exit 1; }
else
  echo "tests/readme/setup.sh: ${missing[*]} missing and cannot be installed (not root or no apt-get)" >&2
  exit 1
fi
