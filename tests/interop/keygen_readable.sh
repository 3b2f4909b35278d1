#!/usr/bin/env bash
# Every key `tokenmint keygen` writes is read by other software (README.md, "Commands":
# "a new PKCS#8 PEM private key ... that `openssl pkey` and common libraries
# read"): for each algorithm, the release binary writes a key and both
# `openssl pkey` and Python's `cryptography` (load_pem_private_key, from the
# interop venv) must load it as the right kind of key. The file is read as
# keygen wrote it, PS256 marker line included (RFC 7468 §5.2 lets text stand
# before the BEGIN line).
#
# Usage: tests/interop/keygen_readable.sh   (after `cargo build --release`)
# Prints PASS/FAIL lines and a final "N passed, M failed"; exits 1 on failure.
set -euo pipefail
# shellcheck source=tests/interop/lib.sh
source "$(dirname "$0")/lib.sh"

need openssl
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ ! -x "$BIN" ]; then
  fail "tokenmint binary" "$BIN not found (run cargo build --release first)"
  echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
  exit 1
fi
setup_python

# The key type each algorithm's file must hold, as Python names it.
declare -A WANT=(
  [ES256]="EllipticCurvePrivateKey secp256r1"
  [ES384]="EllipticCurvePrivateKey secp384r1"
  [EdDSA]="Ed25519PrivateKey"
  [RS256]="RSAPrivateKey"
  [PS256]="RSAPrivateKey"
)

for ALG in ES256 ES384 EdDSA RS256 PS256; do
  dir=$WORK/$ALG
  if ! "$BIN" keygen --alg "$ALG" --dir "$dir" >"$WORK/$ALG.out" 2>"$WORK/$ALG.err"; then
    fail "[$ALG] tokenmint keygen" "$(head -c 400 "$WORK/$ALG.err" | tr '\n' ' ')"
    continue
  fi
  file=$(find "$dir" -maxdepth 1 -name '*.pem' | head -n 1)
  if [ -z "$file" ]; then
    fail "[$ALG] tokenmint keygen" "no .pem file in $dir"
    continue
  fi

  if out=$(openssl pkey -in "$file" -noout 2>&1); then
    pass "[$ALG] openssl pkey reads $(basename "$file")"
  else
    fail "[$ALG] openssl pkey reads $(basename "$file")" "$(printf '%s' "$out" | head -c 400 | tr '\n' ' ')"
  fi

  if out=$("$PY" - "$file" "${WANT[$ALG]}" 2>&1 <<'PYEOF'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

path, want = sys.argv[1], sys.argv[2].split()
with open(path, "rb") as f:
    key = serialization.load_pem_private_key(f.read(), password=None)
kinds = {
    "EllipticCurvePrivateKey": ec.EllipticCurvePrivateKey,
    "Ed25519PrivateKey": ed25519.Ed25519PrivateKey,
    "RSAPrivateKey": rsa.RSAPrivateKey,
}
if not isinstance(key, kinds[want[0]]):
    sys.exit(f"loaded a {type(key).__name__}, expected {want[0]}")
if len(want) > 1 and key.curve.name != want[1]:
    sys.exit(f"curve {key.curve.name}, expected {want[1]}")
if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
    sys.exit(f"RSA key of {key.key_size} bits")
print(type(key).__name__, getattr(getattr(key, "curve", None), "name", ""), getattr(key, "key_size", ""))
PYEOF
  ); then
    pass "[$ALG] python cryptography loads $(basename "$file")" "$(printf '%s' "$out" | tr -s ' ' | sed 's/ *$//')"
  else
    fail "[$ALG] python cryptography loads $(basename "$file")" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
  fi
done

echo
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" = 0 ]
