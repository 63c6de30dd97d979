#!/bin/sh
# Installs the Debian packages the build, the tests and the demo need, and
# only those that are missing: `dpkg -s` tells whether a package is really
# installed, and `apt-get update` runs first because a fresh machine has no
# package lists yet.
#
# Usage: sh scripts/deps.sh [fuzz]
# With "fuzz" it also installs what the fuzzers need: clang and its runtime
# libraries (libFuzzer, ASan, UBSan). `make fuzz` and the brief fuzzing at the
# end of `make test` ask for them; the builds themselves use gcc, and
# `make demo` needs none of them.
set -eu

# libyajl-dev and libjsmn-dev are for bench_decode only: the candidates the ingest decoder was
# measured against (README, "The ingest decoder"); the engine links neither.
PACKAGES="build-essential cmake pkg-config libuv1-dev libzmq3-dev libsqlite3-dev libcjson-dev \
libyaml-dev libre2-dev libsodium-dev libncurses-dev sqlite3 tzdata libyajl-dev libjsmn-dev"
FUZZ_PACKAGES="clang libclang-rt-14-dev"

case "${1:-}" in
"") ;;
fuzz) PACKAGES="$PACKAGES $FUZZ_PACKAGES" ;;
*)
    echo "usage: sh scripts/deps.sh [fuzz]" >&2
    exit 2
    ;;
esac

missing=""
for p in $PACKAGES; do
    if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
