# Sourced by scripts/demo and scripts/test: make .venv (once) and install the project into it.
# Works where the system Python refuses `pip install` (PEP 668): everything goes in .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="${SCHEDULER_VENV:-$ROOT/.venv}"

if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        # Debian/Ubuntu ship venv separately (python3-venv); install it when we can.
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            ver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
            apt-get update -qq && (apt-get install -y -qq "python$ver-venv" || apt-get install -y -qq python3-venv)
            "$PYTHON" -m venv "$VENV"
        else
            echo "error: '$PYTHON -m venv' failed; install your distribution's venv package" \
                 "(Debian/Ubuntu: sudo apt-get install python3-venv) and run this again" >&2
            exit 1
        fi
    fi
fi

# Reinstall only when the package metadata changed since the last install.
install_extras() {
    local extras="$1" stamp="$VENV/.installed-$1"
    local want
    want="$(cat setup.cfg setup.py pyproject.toml | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        "$VENV/bin/python" -m pip install -q --upgrade pip
        # The distribution was called `scheduler` before it became `threadcron` (#9). Both
        # install the import package `scheduler`, and so does PyPI's unrelated `scheduler`:
        # remove whichever is in this venv, or its files would shadow or clash with ours.
        if "$VENV/bin/python" -m pip show -q scheduler >/dev/null 2>&1; then
            "$VENV/bin/python" -m pip uninstall -q -y scheduler
        fi
        "$VENV/bin/python" -m pip install -q -e ".[$extras]"
        echo "$want" > "$stamp"
    fi
}
