#!/usr/bin/env bash
# Sets up everything the project needs on a fresh machine, idempotently:
# system libraries (Mesa EGL/llvmpipe, PortAudio, Xvfb) where missing and apt is usable,
# a virtual environment in .venv, torch (the CPU build where there is no CUDA), the package.
# Sourced by scripts/show.sh and scripts/test.sh; safe to run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${INSTALLATION_VENV:-$ROOT/.venv}"
say() { echo "[setup] $*" >&2; }

install_system_libraries() {
    local wanted=(libegl1 libegl-mesa0 libgl1-mesa-dri libportaudio2 xvfb xauth)
    command -v dpkg >/dev/null 2>&1 || { say "no dpkg: install Mesa EGL, PortAudio and Xvfb yourself"; return 0; }
    local missing=()
    for pkg in "${wanted[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
            say "missing system packages: ${missing[*]} (not root, no sudo): install them to get headless GL, audio input and window tests"
            return 0
        fi
    fi
    say "installing system packages: ${missing[*]}"
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/tmp/installation-apt.log 2>&1; then
        say "apt-get failed (see /tmp/installation-apt.log); going on without: ${missing[*]}"
    fi
}

install_python_packages() {
    local py="${PYTHON:-python3}"
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating virtual environment $VENV"
        "$py" -m venv "$VENV"
    fi
    local vpy="$VENV/bin/python"
    local stamp="$VENV/.installation-stamp"
    local want
    want="$(cat "$ROOT/pyproject.toml" | sha1sum | cut -c1-16)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
    if ! "$vpy" -c "import torch" >/dev/null 2>&1; then
        if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
            say "CUDA found: installing torch with CUDA"
            "$vpy" -m pip install -q "torch>=2.2"
        else
            say "no CUDA: installing the CPU build of torch"
            "$vpy" -m pip install -q "torch==2.13.0"
        fi
    fi
    say "installing the installation package and its dependencies"
    "$vpy" -m pip install -q -e "$ROOT[test,rig]"
    echo "$want" >"$stamp"
}

install_system_libraries
install_python_packages
export PATH="$VENV/bin:$PATH"
