#!/usr/bin/env bash
# VNN-COMP: install the tool.  Usage: install_tool.sh v1
set -euo pipefail
TOOL_NAME=verifier
VERSION_STRING=v1
if [ "$#" -lt 1 ] || [ "$1" != "$VERSION_STRING" ]; then
    echo "Expected first argument (version string) '$VERSION_STRING', got '${1:-}'" >&2
    exit 1
fi
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$SCRIPT_DIR")"
PYTHON="${PYTHON:-python3}"
echo "Installing $TOOL_NAME from $REPO_DIR with $($PYTHON --version 2>&1)"
# onnxruntime (extra 'ort') lets sat witnesses be replayed in onnxruntime as well
"$PYTHON" -m pip install -e "$REPO_DIR[ort]"
"$PYTHON" -c "import verifier.batch, verifier.cli, verifier.verify; print('verifier installed')"
