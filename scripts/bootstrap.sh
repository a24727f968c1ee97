#!/usr/bin/env bash
# Creates .venv and installs the project with its dev tools; a no-op when pyproject.toml is unchanged.
# Used by every make task that runs Python, so one command works on a fresh machine.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
stamp=$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)

if [[ -f $stamp ]]; then
    exit 0
fi
if [[ ! -x $VENV/bin/python ]]; then
    echo "bootstrap: creating $VENV with $($PYTHON --version)" >&2
    "$PYTHON" -m venv "$VENV"
fi
echo "bootstrap: installing the project and its dev tools into $VENV" >&2
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[dev]'
rm -f "$VENV"/.installed-*
touch "$stamp"
