#!/usr/bin/env bash
# VNN-COMP: run one instance.
# Usage: run_instance.sh v1 CATEGORY ONNX VNNLIB RESULTFILE TIMEOUT
# Writes RESULTFILE in the competition format: 'sat' followed by the counterexample
# ((X_0 v) ... (Y_0 v)), or 'unsat' / 'unknown' / 'timeout' / 'error'. The instance runs in
# its own process, which answers `timeout` by itself at TIMEOUT + 0.5 s (its watchdog) and
# is killed at TIMEOUT + 1 s at the latest, so the result file is always written.
# Exit code 0 once the result file is written; nonzero on bad arguments or if it cannot be.
# Set VERIFIER_METHOD (interval|deeppoly|triangle|krelu|milp|auto; default auto) to choose.
set -uo pipefail
VERSION_STRING=v1
if [ "$#" -ne 6 ] || [ "$1" != "$VERSION_STRING" ]; then
    echo "usage: $0 $VERSION_STRING CATEGORY ONNX VNNLIB RESULTFILE TIMEOUT (got: $*)" >&2
    exit 1
fi
PYTHON="${PYTHON:-python3}"
# the installed package's command line; not `python -m verifier.cli`, which would import a
# verifier/ folder in the current directory first
CLI='import sys; sys.path[:] = [p for p in sys.path if p not in ("", ".")]
from verifier.cli import main; sys.exit(main(sys.argv[1:]))'
exec "$PYTHON" -c "$CLI" --vnncomp "$2" "$3" "$4" "$5" "$6" \
    --method "${VERIFIER_METHOD:-auto}"
