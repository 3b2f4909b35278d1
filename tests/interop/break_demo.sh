#!/usr/bin/env bash
# Deliberate-break self-check: shows that the validators used by run.sh really reject bad
# tokens (so their PASS lines mean something). Starts its own ES256 tokenmint, takes one
# valid token, and feeds jose (Node) and PyJWT (Python) these variants:
#   1. untampered                          -> must be ACCEPTED (control)
#   2. header typ "at+jwt" -> "JWT", original signature   -> rejected: signature no longer matches
#   3. header kid removed, original signature             -> rejected (PyJWKClient: no key; jose: signature)
#   4. re-signed with the server's own key, typ "JWT"     -> signature valid; jose rejects via typ option,
#      PyJWT has no typ option, so the explicit header check in python/interop.py is what rejects it
# Usage: bash tests/interop/break_demo.sh   (after run.sh has installed .venv and node_modules)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/interop/lib.sh
. "$HERE/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokenmint-break.XXXXXX")
trap 'stop_server; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
setup_all >/dev/null
[ -x "$BIN" ] || { echo "break_demo: $BIN missing"; echo "0 passed, 1 failed"; exit 1; }

keygen ES256 "$WORK/keys" >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
PORT=$(free_port) ISS=http://127.0.0.1:$PORT
write_config "$WORK/cfg.toml" "$ISS" "$PORT" "$WORK/keys"
start_server demo "$WORK/cfg.toml" "$ISS" >/dev/null || { echo "server did not start"; echo "0 passed, 1 failed"; exit 1; }
TOKEN=$(get_token "$ISS")
[ -n "$TOKEN" ] || { echo "no token"; echo "0 passed, 1 failed"; exit 1; }
PEM=$(find "$WORK/keys" -name '*.pem' | head -n1)
TOTAL_PASS=0 TOTAL_FAIL=0   # count only the demo checks below

# name<TAB>expected<TAB>token
"$PY" - "$TOKEN" "$PEM" >"$WORK/variants" <<'EOF'
import base64, json, sys
import jwt
tok, pem = sys.argv[1], open(sys.argv[2], "rb").read()
h64, p64, s64 = tok.split(".")
dec = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
enc = lambda o: base64.urlsafe_b64encode(json.dumps(o, separators=(",", ":")).encode()).rstrip(b"=").decode()
hdr, claims = dec(h64), dec(p64)
typ_jwt = dict(hdr, typ="JWT")
no_kid = {k: v for k, v in hdr.items() if k != "kid"}
print("untampered\taccept\t" + tok)
print("typ=JWT, original signature\treject\t" + ".".join([enc(typ_jwt), p64, s64]))
print("kid removed, original signature\treject\t" + ".".join([enc(no_kid), p64, s64]))
resigned = jwt.encode(claims, pem, algorithm=hdr["alg"], headers={"kid": hdr["kid"], "typ": "JWT"})
print("re-signed with server key, typ=JWT\treject\t" + resigned)
EOF

while IFS=$'\t' read -r name want tok; do
  # jose (Node): the exact call python/node interop checks use.
  res=$(cd "$NODE_DIR" && ISS="$ISS" AUD="$AUD" TOK="$tok" timeout 30 node --input-type=module -e '
    import * as jose from "jose";
    const JWKS = jose.createRemoteJWKSet(new URL(process.env.ISS + "/jwks"));
    try {
      await jose.jwtVerify(process.env.TOK, JWKS, { issuer: process.env.ISS, audience: process.env.AUD, typ: "at+jwt", algorithms: ["ES256"] });
      console.log("accept");
    } catch (e) { console.log("reject " + e.code + (e.claim ? " (" + e.claim + ")" : "")); }' 2>&1 || echo "error")
  if [ "${res%% *}" = "$want" ]; then pass "jose: $name -> $res"; else fail "jose: $name" "got '$res', want $want"; fi

  # PyJWT: PyJWKClient + decode + the typ header check from python/interop.py.
  res=$(ISS="$ISS" AUD="$AUD" TOK="$tok" timeout 30 "$PY" -c '
import os, jwt
tok, iss = os.environ["TOK"], os.environ["ISS"]
try:
    key = jwt.PyJWKClient(iss + "/jwks").get_signing_key_from_jwt(tok)
    jwt.decode(tok, key, algorithms=["ES256"], audience=os.environ["AUD"], issuer=iss)
    typ = jwt.get_unverified_header(tok).get("typ")
    print("accept" if typ == "at+jwt" else f"reject typ={typ} (signature was valid: only the explicit typ check catches this)")
except Exception as e:
    print(f"reject {type(e).__name__}")' 2>&1 || echo "error")
  if [ "${res%% *}" = "$want" ]; then pass "PyJWT: $name -> $res"; else fail "PyJWT: $name" "got '$res', want $want"; fi
done <"$WORK/variants"

echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" = 0 ]
