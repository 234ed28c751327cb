#!/usr/bin/env bash
# Installs what tests/invoke needs; idempotent, quick when already done.
#
#   tests/invoke/setup.sh            # uses $PYTHON, else `python`, else python3
#
# 1. the Python test clients (requirements.txt) into that Python;
# 2. awslambdaric (PyPI) for the sandbox's /usr/bin/python3, into
#    tests/invoke/.cache/awslambdaric (zipped into test functions), and
#    aws-lambda-powertools[tracer] likewise into tests/invoke/.cache/powertools;
# 3. the Node.js runtime interface client aws-lambda-ric (npm) into
#    tests/invoke/.cache/node-ric. It compiles a native addon and needs
#    cmake, autoconf, automake and libtool (Debian packages, installed here
#    when missing and we are root). If it cannot be built, the reason goes to
#    tests/invoke/.cache/node-ric.skip and its one test is skipped with it.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="$here/.cache"
mkdir -p "$cache"
py="${PYTHON:-$(command -v python || command -v python3)}"

echo "tests/invoke/setup.sh: Python test clients"
"$py" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt" || exit 1

if [ ! -d "$cache/awslambdaric/awslambdaric" ]; then
  echo "tests/invoke/setup.sh: awslambdaric for /usr/bin/python3"
  pyver=$(/usr/bin/python3 -c 'import sys; print("%d%d" % sys.version_info[:2])') || exit 1
  rm -rf "$cache/awslambdaric.partial"
  "$py" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
    --python-version "$pyver" --implementation cp --platform manylinux2014_x86_64 \
    --target "$cache/awslambdaric.partial" 'awslambdaric>=3,<5' || exit 1
  mv "$cache/awslambdaric.partial" "$cache/awslambdaric"
fi

# Python packages zipped into test functions (built for the sandbox's /usr/bin/python3):
# Powertools with its Tracer's aws-xray-sdk (test_powertools.py).
if [ ! -d "$cache/powertools/aws_lambda_powertools" ] || [ ! -d "$cache/powertools/aws_xray_sdk" ]; then
  echo "tests/invoke/setup.sh: aws-lambda-powertools[tracer] for /usr/bin/python3"
  pyver=$(/usr/bin/python3 -c 'import sys; print("%d%d" % sys.version_info[:2])') || exit 1
  rm -rf "$cache/powertools.partial"
  "$py" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
    --python-version "$pyver" --implementation cp --platform manylinux2014_x86_64 \
    --target "$cache/powertools.partial" 'aws-lambda-powertools[tracer]>=3,<4' || exit 1
  rm -rf "$cache/powertools"
  mv "$cache/powertools.partial" "$cache/powertools"
fi

node_ric() {
  local dir="$cache/node-ric"
  [ -f "$dir/node_modules/aws-lambda-ric/package.json" ] && return 0
  rm -f "$cache/node-ric.skip"
  if ! command -v npm >/dev/null; then
    echo "npm is not installed" >"$cache/node-ric.skip"; return 0
  fi
  local missing=()
  for tool in cmake autoconf automake libtoolize; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "tests/invoke/setup.sh: apt-get install cmake autoconf automake libtool"
      (apt-get install -y -qq cmake autoconf automake libtool >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 &&
          apt-get install -y -qq cmake autoconf automake libtool >/dev/null 2>&1; })
    fi
    for tool in cmake autoconf automake libtoolize; do
      if ! command -v "$tool" >/dev/null; then
        echo "building aws-lambda-ric needs $tool, which could not be installed" >"$cache/node-ric.skip"
        return 0
      fi
    done
  fi
  echo "tests/invoke/setup.sh: npm install aws-lambda-ric (native build, a few minutes the first time)"
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  (cd "$dir.partial" && echo '{"name":"flint-node-ric","private":true}' >package.json &&
    npm install --no-audit --no-fund --loglevel=error 'aws-lambda-ric@^4' >"$cache/node-ric.log" 2>&1)
  if [ $? -ne 0 ] || [ ! -f "$dir.partial/node_modules/aws-lambda-ric/package.json" ]; then
    {
      echo "npm install aws-lambda-ric failed; last lines of tests/invoke/.cache/node-ric.log:"
      tail -n 15 "$cache/node-ric.log"
    } >"$cache/node-ric.skip"
    rm -rf "$dir.partial"
    return 0
  fi
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
}
node_ric
if [ -f "$cache/node-ric.skip" ]; then
  echo "tests/invoke/setup.sh: aws-lambda-ric unavailable: $(head -n 1 "$cache/node-ric.skip")"
fi
echo "tests/invoke/setup.sh: done"
