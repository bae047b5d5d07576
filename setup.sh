#!/bin/sh
# setup.sh — one-step set-up on Debian: installs what is missing, builds ember, then runs the main
# job (`./setup.sh demo [ARGS...]`) or the test suite (`./setup.sh test`).
set -eu
cd "$(dirname "$0")"

what=${1:-demo}
[ $# -gt 0 ] && shift

# Debian packages ember needs to build and test (runtime: OpenBLAS, HDF5, zlib; tests: cmocka).
pkgs="gcc make cmake pkg-config libopenblas-dev libhdf5-dev zlib1g-dev libcmocka-dev"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing$missing" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
    else
        echo "setup: missing Debian packages:$missing" >&2
        echo "setup: run:  sudo apt-get install -y$missing" >&2
        exit 1
    fi
fi

jobs=$(nproc 2>/dev/null || echo 2)
# EMBER_CMAKE_ARGS lets CI add options (e.g. -DEMBER_WERROR=ON) to the same build.
# shellcheck disable=SC2086
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${EMBER_CMAKE_ARGS:-} >build-configure.log 2>&1 || {
    cat build-configure.log >&2; exit 1; }
# The demo needs only the `ember` command; the tests need everything.
target=""
[ "$what" = demo ] && target="--target ember"
# The build runs in the background into build.log while this shows its progress: one line redrawn
# on a terminal, a line per 20 % otherwise (CI logs). A build from scratch takes about a minute.
# shellcheck disable=SC2086
cmake --build build -j"$jobs" $target >build.log 2>&1 &
build_pid=$!
shown=-1
while kill -0 "$build_pid" 2>/dev/null; do
    pct=$(grep -o '^\[ *[0-9]*%\]' build.log 2>/dev/null | tail -1 | tr -d '[]% ')
    pct=${pct:-0}
    last=$(grep -E '^\[ *[0-9]+%\] (Building|Linking)' build.log 2>/dev/null | tail -1 | sed 's/^.*Building C object //; s/^.*Linking C //; s/\.dir\// /; s/\.o$//')
    if [ -t 2 ]; then
        printf '\rsetup: building ember %3s%%  %-60.60s' "$pct" "$last" >&2
    elif [ $((pct / 20)) -gt "$shown" ]; then
        shown=$((pct / 20))
        echo "setup: building ember: $pct%" >&2
    fi
    sleep 1
done
[ -t 2 ] && printf '\r%-80s\r' '' >&2
if ! wait "$build_pid"; then
    grep -E 'error|Error' build.log >&2 || cat build.log >&2
    echo "setup: build failed (full log: build.log)" >&2; exit 1
fi
echo "setup: built build/ember (run it as ./build/ember, or install: cmake --install build --prefix DIR)" >&2

case "$what" in
demo) exec ./build/ember demo "$@" ;;
test) cd build && exec ctest --output-on-failure -j"$jobs" "$@" ;;
*) echo "usage: ./setup.sh demo [ARGS...] | ./setup.sh test [CTEST ARGS...]" >&2; exit 2 ;;
esac
