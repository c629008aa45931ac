#!/usr/bin/env bash
# Build .venv-container: the scikit-learn 1.9-0 image's Python packages (requirements-container.txt) on the image's
# Python (3.12), for the container test tier and the cold-start benchmark. Usage: build_venv.sh <venv> <requirements>
# CONTAINER_PYTHON=/path/to/python3.12 chooses the interpreter.
set -euo pipefail
venv=${1:-.venv-container}
requirements=${2:-requirements-container.txt}

works() { [ -n "$1" ] && "$1" -c 'import sys' >/dev/null 2>&1; }
python=${CONTAINER_PYTHON:-}
if ! works "$python"; then
    python=""
    for candidate in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
        if works "$candidate"; then python=$candidate; break; fi
    done
fi
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
grep -v '^sagemaker-containers' "$requirements" > "$pins"
if [ -z "$python" ]; then
    python=python3.11
    # numpy 2.5.1 and scipy 1.18.0 have no Python 3.11 builds: take the newest ones that install.
    sed -i -e 's/^numpy==/numpy<=/' -e 's/^scipy==/scipy<=/' "$pins"
    echo "NOTE: no Python 3.12 found: building $venv with $(command -v python3.11) and the nearest installable numpy/scipy (not the image's exact set)"
fi
rm -rf "$venv"
"$python" -m venv "$venv"
quiet() { "$@" 2>&1 | { grep -v -e 'is ignored: it is neither' -e 'dependency resolver does not currently' -e 'requires typing' -e 'requires flask==' || true; }; }
# The image installs the newest pip (get-pip.py) before its packages; so do we.
quiet "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
quiet "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$pins"
# It pins flask==1.1.1; the image has it next to Flask 3.1.3, so it goes in without its dependencies.
quiet "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$(grep '^sagemaker-containers' "$requirements" | cut -d' ' -f1)"
"$venv/bin/python" "$(dirname "$0")/patch_venv.py" "$venv"
"$venv/bin/python" -c 'import sagemaker_training, sagemaker_containers.beta.framework, sklearn, gunicorn, gevent, sys; print("built", sys.argv[1], "with Python", sys.version.split()[0], "scikit-learn", sklearn.__version__)' "$venv"
