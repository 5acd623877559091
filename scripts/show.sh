#!/usr/bin/env bash
# One command for the show: sets up what is missing, then plays the default show
# fullscreen where there is a display; without one, `play` says so and renders a clip.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec "$VENV/bin/installation" play show_configs/default.toml --fullscreen "$@"
