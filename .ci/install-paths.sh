#!/usr/bin/env bash
# CI: the install paths other than ".[dev]". Each one in a fresh venv, each command's exit code and
# stderr asserted:
#   core (a regular, non-editable `pip install .`, run from outside the checkout):
#     list and `trace parity --frameworks scratch` work; MNIST is found in the shipped copy with
#     no network, no $FRAMEWORK_MIRROR_MNIST and an empty cache; `parity` (needs torch and Keras),
#     --plot and --html exit 2 with one line naming the pip extra.
#   torch only (`pip install -e '.[torch]'`): parity with scratch,torch passes; scratch,keras
#     exits 2 naming Keras as unavailable.
#   jax only (`pip install -e '.[jax]'`): no CUDA package installed; neither torch nor TensorFlow
#     importable; parity with scratch,jax passes; scratch,torch,jax exits 2 naming torch's extra.
#   core: a run asking for jax exits 2 with one line naming `.[jax]`.
# Usage: .ci/install-paths.sh [WORKDIR]   (default: a new temporary folder, removed afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
WORK="${1:-$(mktemp -d -t framework-mirror-install-XXXXXX)}"
[ -n "${1:-}" ] || trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/cache" "$WORK/out"
export XDG_CACHE_HOME="$WORK/cache"          # an empty user cache
unset FRAMEWORK_MIRROR_MNIST

fail() { echo "install-paths: FAIL: $*" >&2; exit 1; }

# expect CODE "STDERR FRAGMENT" PYTHON ARGS...: run `PYTHON -m compare ARGS` from $WORK/out and
# check its exit code; for exit 2 also that stderr is one message (wrapped lines indented)
# holding the fragment.
expect() {
  local code="$1" fragment="$2" python="$3"; shift 3
  local rc=0
  (cd "$WORK/out" && "$python" -m compare "$@") >"$WORK/stdout" 2>"$WORK/stderr" || rc=$?
  if [ "$rc" != "$code" ]; then
    cat "$WORK/stderr" >&2
    fail "python -m compare $* exited $rc, expected $code"
  fi
  if [ -n "$fragment" ]; then
    # one message: its first line, then (past 100 columns) continuation lines indented two spaces
    local joined
    joined="$(awk 'NR == 1 { printf "%s", $0; next } /^  / { sub(/^ +/, ""); printf " %s", $0; next }
                   { printf "\n%s", $0 }' "$WORK/stderr")"
    printf '%s' "$joined" | grep -qF -- "$fragment" || { cat "$WORK/stderr" >&2; fail "python -m compare $*: stderr lacks '$fragment'"; }
    [ -s "$WORK/stderr" ] && [ "$(printf '%s' "$joined" | wc -l)" = 0 ] \
      || { cat "$WORK/stderr" >&2; fail "python -m compare $*: stderr is not one message"; }
  fi
  echo "ok: python -m compare $* -> exit $rc"
}

echo "== core install (regular, not editable): $WORK/core"
python3 -m venv "$WORK/core"
"$WORK/core/bin/pip" install -q -c constraints.txt "$REPO"
CORE="$WORK/core/bin/python"
(cd "$WORK/out" && "$CORE" - <<'EOF') || fail "core install: imports or the shipped MNIST"
import sys
import compare.data.mnist_data as md
assert "site-packages" in md.__file__, md.__file__           # the installed copy, not the checkout
for name in ("torch", "tensorflow", "keras", "matplotlib", "pygments"):
    try:
        __import__(name)
    except ImportError:
        continue
    sys.exit(f"{name} is importable in the core install")
def no_download(*a, **k):
    raise AssertionError("downloaded although the shipped copy is present")
md.download = no_download
m = md.load_mnist()
assert m.origin == "bundled" and m.train_images.shape == (60000, 784), (m.origin, m.source)
print(f"ok: shipped MNIST found and SHA-256 checked in {m.source}")
EOF
expect 0 "" "$CORE" list
expect 0 "" "$CORE" trace parity --frameworks scratch
expect 2 "pip install -c constraints.txt '.[torch]'" "$CORE" parity
expect 2 "framework 'torch' is not available" "$CORE" mnist
expect 2 "pip install -c constraints.txt '.[plot]'" "$CORE" parity --frameworks scratch,torch --plot p.png
expect 2 "pip install -c constraints.txt '.[html]'" "$CORE" parity --frameworks scratch,torch --html p.html
expect 2 "pip install -c constraints.txt '.[jax]'" "$CORE" parity --frameworks scratch,jax
[ ! -e "$WORK/out/p.png" ] || fail "--plot without matplotlib wrote a file"

echo "== torch only (editable): $WORK/torch"
python3 -m venv "$WORK/torch"
"$WORK/torch/bin/pip" install -q -c constraints.txt -e "$REPO[torch]"
TORCH="$WORK/torch/bin/python"
expect 0 "" "$TORCH" parity --frameworks scratch,torch --quiet
expect 2 "framework 'keras' is not available" "$TORCH" parity --frameworks scratch,keras
echo "== jax only (editable): $WORK/jax"
python3 -m venv "$WORK/jax"
"$WORK/jax/bin/pip" install -q -c constraints.txt -e "$REPO[jax]"
JAX="$WORK/jax/bin/python"
if "$WORK/jax/bin/pip" freeze | grep -i -E '^(nvidia|jax-cuda|jax_cuda)'; then
  fail "the jax extra installed CUDA packages"
fi
"$JAX" -c "
import importlib.util, sys
present = [m for m in ('torch', 'tensorflow', 'keras') if importlib.util.find_spec(m)]
sys.exit(f'importable in the jax-only install: {present}' if present else 0)" || fail "jax only: torch or TensorFlow installed"
expect 0 "" "$JAX" parity --frameworks scratch,jax --quiet
expect 2 "pip install -c constraints.txt '.[torch]'" "$JAX" parity --frameworks scratch,torch,jax
echo "install-paths: all passed"
