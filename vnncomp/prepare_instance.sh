#!/usr/bin/env bash
# VNN-COMP: prepare one instance.  Usage: prepare_instance.sh v1 CATEGORY ONNX VNNLIB
# Nothing to prepare (no per-instance state, no GPU); we only check that both files load
# so that an instance the tool cannot read is skipped instead of burning its timeout.
# Exit 0 when they load, 1 otherwise (or on bad arguments).
set -uo pipefail
VERSION_STRING=v1
if [ "$#" -ne 4 ] || [ "$1" != "$VERSION_STRING" ]; then
    echo "usage: $0 $VERSION_STRING CATEGORY ONNX VNNLIB (got: $*)" >&2
    exit 1
fi
CATEGORY="$2"
ONNX_FILE="$3"
VNNLIB_FILE="$4"
PYTHON="${PYTHON:-python3}"
echo "Preparing verifier for category '$CATEGORY': $ONNX_FILE $VNNLIB_FILE"
# the installed package's command line; not `python -m verifier.cli`, which would import a
# verifier/ folder in the current directory first
CLI='import sys; sys.path[:] = [p for p in sys.path if p not in ("", ".")]
from verifier.cli import main; sys.exit(main(sys.argv[1:]))'
if ! "$PYTHON" -c "$CLI" --check "$ONNX_FILE" "$VNNLIB_FILE"; then
    echo "prepare_instance: $ONNX_FILE / $VNNLIB_FILE cannot be handled" >&2
    exit 1
fi
exit 0
