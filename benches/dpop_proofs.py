#!/usr/bin/env python3
"""COUNT DPoP proofs (RFC 9449) of one fresh ES256 key for HTU, one per line,
each with its own jti and iat = now, for benches/dpop.lua:

    python3 benches/dpop_proofs.py HTU COUNT > proofs.txt

Needs PyJWT and cryptography (the interop venv: tests/interop/.venv).
"""
import json
import sys
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

htu, count = sys.argv[1], int(sys.argv[2])
key = ec.generate_private_key(ec.SECP256R1())
public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
header = {"typ": "dpop+jwt", "jwk": public}
now = int(time.time())
out = sys.stdout
for _ in range(count):
    claims = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": htu, "iat": now}
    out.write(jwt.encode(claims, key, algorithm="ES256", headers=header) + "\n")
