#!/usr/bin/env bash
# Faithfulness against the official Keras code: a throw-away .venv-tf with tensorflow-cpu, torch and
# dcai (no Ray), then tests/tf/test_tf_parity.py. Where TensorFlow cannot be installed it says so and
# exits 0 on a workstation; under CI=true it exits 1: a check that did not run must not read as passed.
set -u
cd "$(dirname "$0")/../.."
VENV=.venv-tf
PY=${PYTHON:-python3}
TORCH=${TORCH_VERSION:-2.14.1}

skip() {
  if [ "${CI:-}" = "true" ]; then
    echo "tf-check FAILED: $1 (CI=true: the parity check could not run)" >&2
    exit 1
  fi
  echo "tf-check SKIPPED: $1"
  exit 0
}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" || skip "could not create $VENV with $PY"
fi
if ! "$VENV/bin/python" -c "import tensorflow, torch, pytest" >/dev/null 2>&1; then
  echo "tf-check: installing tensorflow-cpu, torch==$TORCH, numpy, pillow, pytest into $VENV ..."
  "$VENV/bin/pip" install -q tensorflow-cpu numpy pillow pytest "torch==$TORCH" \
    || skip "pip could not install tensorflow-cpu (no wheel for $(uname -m) / $("$PY" -V 2>&1)?)"
fi
# dcai itself without its dependencies: the parity test needs torch, numpy and pillow, never Ray.
"$VENV/bin/pip" install -q --no-deps -e . || skip "could not install dcai into $VENV"
"$VENV/bin/python" -c "import tensorflow" >/dev/null 2>&1 || skip "tensorflow installed but does not import"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/tf "$@"
