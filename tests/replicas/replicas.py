"""Replica proof: three tokenmint replicas behind HAProxy, live operations under load.

Run by tests/replicas/run.sh (which makes the interop venv and installs haproxy):

    python replicas.py --bin TOKENMINT --work SCRATCH_DIR

Three `tokenmint serve` share one config file and one keys directory, each on its own
127.0.0.x address (listen and admin_listen come from TOKENMINT_SERVER__* variables, so the
file itself is shared). HAProxy on 127.0.0.1 passes TLS through (TCP mode), round robin,
health-checked on each replica's /readyz. While a client loop takes tokens through the
balancer and two verifiers validate each of them against the balancer's /jwks, the script
rotates the signing key, adds and removes a client, swaps the TLS certificate, sends 100
SIGHUPs and restarts every replica one at a time with drain. Last line: "N passed, M failed".
"""

import argparse
import base64
import hashlib
import json
import os
import queue
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import jwt
from jwt import PyJWKClient

AUD = "https://api.example.com"
LB_HOST = "127.0.0.1"
PUBLIC_PORT = 18443
ADMIN_PORT = 18464
REPLICA_HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
ISSUER = f"https://{LB_HOST}:{PUBLIC_PORT}"
JWKS_MAX_AGE = 4
PUBLISH_MARGIN = 1
MAX_TTL = 8
DRAIN_SECONDS = 1
SIGHUPS = 100
RUN_LIMIT = 150  # seconds: hard bound on the whole run

T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


class Ctx:
    pass


C = Ctx()
CHILDREN = []  # every Popen started, killed on exit
STOP = threading.Event()
LOCK = threading.Lock()


def remember(p):
    """Track a child; its pid also goes to WORK/pids for run.sh, should this process be killed."""
    CHILDREN.append(p)
    with open(f"{C.work}/pids", "a") as f:
        f.write(f"{p.pid}\n")


def kill_all():
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in CHILDREN:
        try:
            p.wait(timeout=5)
        except Exception:
            pass


# ---------------------------------------------------------------- files


def openssl(*args):
    r = run(["openssl", *args])
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:3])}: {r.stderr[-400:]}")


def make_ca(d):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem", "-days", "2", "-subj", "/CN=replicas test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")


def make_cert(d, name):
    """A server certificate signed by the CA: d/name.pem, d/name.key."""
    ext = f"{d}/{name}.ext"
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3,IP:127.0.0.4,DNS:localhost\n"
                "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr", "-subj", f"/CN={name}")
    openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", f"{d}/{name}.pem")


def der_sha256(pem_file):
    with open(pem_file) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def write_config(clients):
    body = f'''issuer = "{ISSUER}"

[server]
listen = "127.0.0.1:{PUBLIC_PORT}"   # each replica's own address comes from TOKENMINT_SERVER__LISTEN
workers = 1
drain_seconds = {DRAIN_SECONDS}

[server.tls]
cert = "{C.tls}/cert.pem"
key = "{C.tls}/key.pem"

[keys]
dir = "{C.keys}"
publish_margin = {PUBLISH_MARGIN}

[tokens]
default_ttl = {MAX_TTL}
max_ttl = {MAX_TTL}
jwks_max_age = {JWKS_MAX_AGE}
audience = ["{AUD}"]
'''
    for cid, field, value in clients:
        body += f'''
[[clients]]
id = "{cid}"
{field} = "{value}"
scopes = ["reports:read"]
default_scopes = ["reports:read"]
'''
    tmp = C.config + ".tmp"
    with open(tmp, "w") as f:
        f.write(body)
    os.replace(tmp, C.config)


# ---------------------------------------------------------------- processes


def ssl_ctx():
    ctx = ssl.create_default_context(cafile=f"{C.tls}/ca.pem")
    return ctx


def http(method, url, data=None, headers=None, timeout=5, ctx=None):
    """(status, headers, body); status 0 with the error text on a transport error."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
    except Exception as e:  # noqa: BLE001 - any transport failure counts
        return 0, {}, repr(e).encode()


def readyz(i):
    st, _, _ = http("GET", f"http://{REPLICA_HOSTS[i]}:{ADMIN_PORT}/readyz", timeout=2)
    return st


def start_replica(i):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENMINT_")}
    env["TOKENMINT_SERVER__LISTEN"] = f"{REPLICA_HOSTS[i]}:{PUBLIC_PORT}"
    env["TOKENMINT_SERVER__ADMIN_LISTEN"] = f"{REPLICA_HOSTS[i]}:{ADMIN_PORT}"
    logf = open(f"{C.work}/replica{i}.log", "a")
    p = subprocess.Popen([C.bin, "serve", "--config", C.config], stdout=logf, stderr=subprocess.STDOUT, env=env)
    remember(p)
    with LOCK:
        C.replicas[i] = p
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"replica {i} exited at start-up (status {p.returncode}); see replica{i}.log")
        if readyz(i) == 200:
            return p
        time.sleep(0.1)
    raise RuntimeError(f"replica {i} not ready within 20 s")


def haproxy_status(i):
    """The balancer's view of replica i (UP, DOWN, ...), from its stats socket."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(f"{C.work}/haproxy.sock")
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        for line in data.decode().splitlines():
            f = line.split(",")
            if len(f) > 17 and f[0] == "replicas" and f[1] == f"r{i}":
                return f[17]
    except OSError as e:
        return f"error {e!r}"
    return "?"


def start_haproxy():
    cfg = f"{C.work}/haproxy.cfg"
    servers = "\n".join(
        f"    server r{i} {h}:{PUBLIC_PORT} check port {ADMIN_PORT} inter 200ms fall 1 rise 2"
        for i, h in enumerate(REPLICA_HOSTS))
    with open(cfg, "w") as f:
        f.write(f"""global
    maxconn 2000
    stats socket {C.work}/haproxy.sock mode 600 level admin
defaults
    mode tcp
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    retries 3
    option redispatch
frontend tokenmint
    bind {LB_HOST}:{PUBLIC_PORT}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}
""")
    r = run(["haproxy", "-c", "-f", cfg])
    if r.returncode != 0:
        raise RuntimeError(f"haproxy -c: {r.stdout[-400:]} {r.stderr[-400:]}")
    logf = open(f"{C.work}/haproxy.log", "w")
    p = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=logf, stderr=subprocess.STDOUT)
    remember(p)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        st, _, _ = http("GET", f"{ISSUER}/jwks", ctx=ssl_ctx(), timeout=2)
        if st == 200:
            return p
        time.sleep(0.2)
    raise RuntimeError("haproxy: GET /jwks through the balancer not 200 within 10 s")


# ---------------------------------------------------------------- token helpers


def basic(cid, secret):
    return "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()


def token_request(cid, secret):
    return http("POST", f"{ISSUER}/oauth2/token", data=b"grant_type=client_credentials",
                headers={"Authorization": basic(cid, secret),
                         "Content-Type": "application/x-www-form-urlencoded"},
                ctx=C.ctx, timeout=5)


def kid_of(token):
    return jwt.get_unverified_header(token).get("kid")


# ---------------------------------------------------------------- loops

STATS = {"issued": 0, "failed_requests": 0, "pyjwk_ok": 0, "pyjwk_fail": 0, "strict_ok": 0,
         "strict_fail": 0, "strict_fetches": 0, "sighups": 0, "restarts": 0}
FAIL_SAMPLES = []
KIDS_SEEN = {}
Q_PYJWK = queue.Queue()
Q_STRICT = queue.Queue()


def note_failure(what):
    with LOCK:
        if len(FAIL_SAMPLES) < 30:
            FAIL_SAMPLES.append(f"[{time.monotonic() - T0:6.1f}s] {what}")
    log("FAILURE " + what)


def client_loop():
    n = 0
    while not STOP.is_set() and n < 20000:
        n += 1
        st, _, body = token_request(C.svc_id, C.svc_secret)
        if st == 200:
            try:
                tok = json.loads(body)["access_token"]
            except Exception as e:  # noqa: BLE001
                with LOCK:
                    STATS["failed_requests"] += 1
                note_failure(f"token request: 200 with unreadable body {e!r}")
                continue
            with LOCK:
                STATS["issued"] += 1
                k = kid_of(tok)
                KIDS_SEEN[k] = KIDS_SEEN.get(k, 0) + 1
            Q_PYJWK.put(tok)
            Q_STRICT.put(tok)
        else:
            with LOCK:
                STATS["failed_requests"] += 1
            note_failure(f"token request: status {st}: {body[:200]!r}")
        time.sleep(0.02)


def keepalive_loop():
    """Opt-in (--keepalive): one persistent HTTPS connection reused for every request, as
    HTTP client libraries do; a failed request is counted, then it reconnects."""
    import http.client
    conn = None
    n = 0
    while not STOP.is_set() and n < 20000:
        n += 1
        try:
            if conn is None:
                conn = http.client.HTTPSConnection(LB_HOST, PUBLIC_PORT, context=C.ctx, timeout=5)
            conn.request("POST", "/oauth2/token", body=b"grant_type=client_credentials",
                         headers={"Authorization": basic(C.svc_id, C.svc_secret),
                                  "Content-Type": "application/x-www-form-urlencoded"})
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise RuntimeError(f"status {r.status}: {body[:200]!r}")
            with LOCK:
                STATS["ka_issued"] = STATS.get("ka_issued", 0) + 1
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as e:  # noqa: BLE001
            with LOCK:
                STATS["ka_failed"] = STATS.get("ka_failed", 0) + 1
            note_failure(f"keep-alive token request: {e!r}")
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(0.02)


def check_claims(tok, key):
    claims = jwt.decode(tok, key, algorithms=["ES256"], audience=AUD, issuer=ISSUER,
                        options={"require": ["exp", "iss", "aud"]})
    typ = jwt.get_unverified_header(tok).get("typ")
    if typ != "at+jwt":
        raise jwt.InvalidTokenError(f"typ is {typ!r}, not at+jwt")
    return claims


def pyjwk_loop():
    # PyJWKClient does not read Cache-Control: its JWK Set cache lives `lifespan` seconds
    # (default 300) and a refetch for an unknown kid is refused for `cooldown_duration`
    # (default 30 s) after any successful fetch. A resource server sets lifespan to the
    # server's max-age; with the default 300 s against jwks_max_age 4 s a new key's tokens
    # would be refused until the cooldown ends (see the report / README).
    client = PyJWKClient(f"{ISSUER}/jwks", ssl_context=C.ctx, timeout=5, lifespan=JWKS_MAX_AGE)
    while True:
        try:
            tok = Q_PYJWK.get(timeout=0.2)
        except queue.Empty:
            if STOP.is_set():
                return
            continue
        if tok is None:
            return
        try:
            key = client.get_signing_key_from_jwt(tok)
            check_claims(tok, key.key)
            with LOCK:
                STATS["pyjwk_ok"] += 1
        except Exception as e:  # noqa: BLE001
            with LOCK:
                STATS["pyjwk_fail"] += 1
            note_failure(f"PyJWKClient validation (kid {kid_of(tok)}): {e!r}")


def strict_loop():
    """Caches the JWK Set for exactly its Cache-Control max-age; never refetches early."""
    cache = {}
    expires = 0.0
    while True:
        try:
            tok = Q_STRICT.get(timeout=0.2)
        except queue.Empty:
            if STOP.is_set():
                return
            continue
        if tok is None:
            return
        try:
            if time.monotonic() >= expires:
                st, hdrs, body = http("GET", f"{ISSUER}/jwks", ctx=C.ctx, timeout=5)
                if st != 200:
                    raise RuntimeError(f"GET /jwks: status {st}: {body[:200]!r}")
                m = re.search(r"max-age=(\d+)", hdrs.get("Cache-Control", ""))
                if not m:
                    raise RuntimeError(f"GET /jwks: no max-age in Cache-Control {hdrs.get('Cache-Control')!r}")
                expires = time.monotonic() + int(m.group(1))
                cache = {k["kid"]: jwt.PyJWK(k) for k in json.loads(body)["keys"]}
                with LOCK:
                    STATS["strict_fetches"] += 1
            kid = kid_of(tok)
            if kid not in cache:
                raise RuntimeError(f"unknown kid {kid} within the cache lifetime "
                                   f"({expires - time.monotonic():.1f} s left; cached {sorted(cache)})")
            check_claims(tok, cache[kid].key)
            with LOCK:
                STATS["strict_ok"] += 1
        except Exception as e:  # noqa: BLE001
            with LOCK:
                STATS["strict_fail"] += 1
            note_failure(f"strict validation: {e!r}")


def sighup_loop(duration):
    """SIGHUPs spread over `duration`, round robin over the replicas not restarting."""
    interval = duration / SIGHUPS
    n = 0
    tries = 0
    while n < SIGHUPS and not STOP.is_set() and tries < 10 * SIGHUPS:
        tries += 1
        for j in range(3):
            i = (n + j) % 3
            with LOCK:
                p, busy = C.replicas[i], C.restarting[i]
            if not busy and p.poll() is None:
                p.send_signal(signal.SIGHUP)
                n += 1
                with LOCK:
                    STATS["sighups"] += 1
                break
        time.sleep(interval)


# ---------------------------------------------------------------- checks

RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append((name, ok))
    print(f"{'PASS' if ok else 'FAIL'} {name}{' (' + detail + ')' if detail else ''}", flush=True)


def client_status_all(cid, secret, n=6):
    """Statuses of n requests through the balancer (round robin: every replica twice)."""
    return [token_request(cid, secret)[0] for _ in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--keepalive", action="store_true", help="add a client loop on one kept-alive connection")
    a = ap.parse_args()
    C.bin, C.work = a.bin, a.work
    C.tls, C.keys, C.config = f"{C.work}/tls", f"{C.work}/keys", f"{C.work}/tokenmint.toml"
    os.makedirs(C.tls)
    os.makedirs(C.keys)
    C.replicas = [None, None, None]
    C.restarting = [False, False, False]

    # TLS: a private CA and a first server certificate.
    make_ca(C.tls)
    make_cert(C.tls, "cert1")
    os.replace(f"{C.tls}/cert1.pem", f"{C.tls}/cert.pem")
    os.replace(f"{C.tls}/cert1.key", f"{C.tls}/key.pem")
    C.ctx = ssl_ctx()

    # Clients: svc (a $sha256$ hash from new-client), old-client (to be removed), added-client later.
    r = run([C.bin, "new-client", "--id", "svc"])
    C.svc_id, C.svc_secret = "svc", r.stdout.splitlines()[0].strip()
    svc_hash = re.search(r'secret_hash = "([^"]+)"', r.stdout).group(1)
    clients = [("svc", "secret_hash", svc_hash), ("old-client", "secret", "old-secret")]
    write_config(clients)
    r = run([C.bin, "keygen", "--alg", "ES256", "--now", "--config", C.config])
    old_kid = r.stdout.strip().split()[-1]
    r = run([C.bin, "check-config", "--config", C.config])
    check("check-config accepts the shared config", r.returncode == 0, r.stdout.strip().splitlines()[-1] if r.stdout else r.stderr[-200:])

    for i in range(3):
        start_replica(i)
    log("3 replicas ready: " + ", ".join(f"{h}:{PUBLIC_PORT} (admin {ADMIN_PORT})" for h in REPLICA_HOSTS))
    start_haproxy()
    log(f"haproxy ready on {ISSUER}")

    threads = [threading.Thread(target=f, daemon=True) for f in (client_loop, pyjwk_loop, strict_loop)]
    threads.append(threading.Thread(target=sighup_loop, args=(16.0,), daemon=True))
    if a.keepalive:
        threads.append(threading.Thread(target=keepalive_loop, daemon=True))
    for t in threads:
        t.start()
    time.sleep(3)

    # 1. key rotation: keygen; the new key is published now and signs jwks_max_age + publish_margin later.
    r = run([C.bin, "keygen", "--alg", "ES256", "--config", C.config])
    new_kid = r.stdout.strip().split()[-1]
    log(f"keygen: new kid {new_kid}: {r.stderr.strip()}")
    rotation_at = time.monotonic()

    # 2. clients: add one, remove one, by editing the watched config file (no signal).
    before_added = client_status_all("added-client", "added-secret", 3)
    before_old = client_status_all("old-client", "old-secret", 3)
    time.sleep(1)
    clients = [("svc", "secret_hash", svc_hash), ("added-client", "secret", "added-secret")]
    write_config(clients)
    log("config edited: added-client added, old-client removed")
    time.sleep(2.5)
    after_added = client_status_all("added-client", "added-secret")
    after_old = client_status_all("old-client", "old-secret")
    check("the added client got a token (every replica)", all(s == 200 for s in after_added),
          f"before {before_added}, after {after_added}")
    check("the removed client got 401 (every replica)", all(s == 401 for s in after_old),
          f"before {before_old}, after {after_old}")

    # 3. TLS certificate swap: new cert and key written beside, renamed into place.
    make_cert(C.tls, "cert2")
    os.replace(f"{C.tls}/cert2.key", f"{C.tls}/key.pem")
    os.replace(f"{C.tls}/cert2.pem", f"{C.tls}/cert.pem")
    want = der_sha256(f"{C.tls}/cert.pem")
    log("TLS certificate swapped")
    time.sleep(2.5)
    served = []
    for h in REPLICA_HOSTS:
        try:
            with socket.create_connection((h, PUBLIC_PORT), timeout=3) as s:
                with C.ctx.wrap_socket(s, server_hostname="localhost") as t:
                    served.append(hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest() == want)
        except Exception as e:  # noqa: BLE001
            served.append(repr(e))
    check("every replica serves the new TLS certificate", all(x is True for x in served), str(served))

    # 4. rolling restart with drain.
    restarted = []
    for i in range(3):
        C.restarting[i] = True
        p = C.replicas[i]
        t = time.monotonic()
        p.send_signal(signal.SIGTERM)
        # The signal and this request race (microseconds): "at once" is
        # within a second, polled, and the time it took is reported.
        st = readyz(i)
        while st != 503 and time.monotonic() - t < 1:
            time.sleep(0.01)
            st = readyz(i)
        st_after = time.monotonic() - t
        lb_down, lb_after = False, None
        while time.monotonic() - t < 15 and p.poll() is None:
            if not lb_down and haproxy_status(i).startswith("DOWN"):
                lb_down, lb_after = True, time.monotonic() - t
            time.sleep(0.05)
        try:
            rc = p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            rc = "timeout"
        took = time.monotonic() - t
        start_replica(i)
        t2 = time.monotonic()
        while time.monotonic() - t2 < 10 and not haproxy_status(i).startswith("UP"):
            time.sleep(0.05)
        lb_up = haproxy_status(i)
        C.restarting[i] = False
        with LOCK:
            STATS["restarts"] += 1
        ok = st == 503 and lb_down and rc == 0 and took >= DRAIN_SECONDS and lb_up.startswith("UP")
        restarted.append(ok)
        log(f"replica {i} restarted: /readyz after SIGTERM {st} ({st_after * 1000:.0f} ms), HAProxy DOWN after "
            f"{lb_after if lb_after is None else round(lb_after, 2)} s, exit {rc} after {took:.2f} s, "
            f"ready again, HAProxy {lb_up}")
    check("every replica restarted (readyz 503 on SIGTERM, out of HAProxy before it exits, exit 0 after drain,"
          " ready and back in HAProxy)", all(restarted),
          str(restarted))

    # 5. rotation: wait until the new key signs, then until check-config says the old key is removable.
    removed = False
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        r = run([C.bin, "check-config", "--config", C.config])
        line = next((ln for ln in r.stdout.splitlines() if old_kid in ln), "")
        if "removable now" in line:
            os.remove(next(os.path.join(C.keys, f) for f in os.listdir(C.keys) if old_kid in f))
            removed = True
            log(f"old key {old_kid} removed ({time.monotonic() - rotation_at:.1f} s after keygen): {line}")
            break
        time.sleep(1)
    check("the old key was removed once check-config said removable", removed)
    time.sleep(JWKS_MAX_AGE + 2)  # past one strict cache lifetime without the old key
    threads[3].join(timeout=30)  # the SIGHUP loop
    reloads = {}
    for i in range(3):
        st, _, body = http("GET", f"http://{REPLICA_HOSTS[i]}:{ADMIN_PORT}/metrics", timeout=3)
        for m in re.finditer(r'^tokenmint_config_reloads_total\{result="(\w+)"\} (\d+)', body.decode(), re.M):
            reloads[m.group(1)] = reloads.get(m.group(1), 0) + int(m.group(2))
    C.reloads = reloads

    STOP.set()
    for t in threads:
        t.join(timeout=10)

    st, _, body = http("GET", f"{ISSUER}/jwks", ctx=C.ctx)
    kids_now = sorted(k["kid"] for k in json.loads(body)["keys"]) if st == 200 else []
    print()
    print(f"tokens issued: {STATS['issued']}")
    print(f"failed token requests: {STATS['failed_requests']}")
    print(f"validations (PyJWKClient): {STATS['pyjwk_ok']} ok, {STATS['pyjwk_fail']} failed")
    print(f"validations (strict, max-age cache): {STATS['strict_ok']} ok, {STATS['strict_fail']} failed "
          f"({STATS['strict_fetches']} JWK Set fetches)")
    print(f"tokens per kid: {KIDS_SEEN}")
    print(f"SIGHUPs sent: {STATS['sighups']}; restarts: {STATS['restarts']}; "
          f"reloads counted by the replicas since their restart (tokenmint_config_reloads_total): {C.reloads}")
    for f in FAIL_SAMPLES:
        print("  failure sample " + f)
    if a.keepalive:
        print(f"keep-alive client: {STATS.get('ka_issued', 0)} issued, {STATS.get('ka_failed', 0)} failed")
        check("0 failed token requests (keep-alive client)", STATS.get("ka_failed", 0) == 0)
    check("0 failed token requests", STATS["failed_requests"] == 0 and STATS["issued"] > 0,
          f"{STATS['failed_requests']} of {STATS['issued'] + STATS['failed_requests']}")
    check("0 failed validations (PyJWKClient)", STATS["pyjwk_fail"] == 0 and STATS["pyjwk_ok"] > 0)
    check("0 failed validations (strict)", STATS["strict_fail"] == 0 and STATS["strict_ok"] > 0)
    check("every issued token validated by both verifiers",
          STATS["pyjwk_ok"] + STATS["pyjwk_fail"] == STATS["issued"] == STATS["strict_ok"] + STATS["strict_fail"])
    check("rotation happened (a token signed by the new kid was seen)", KIDS_SEEN.get(new_kid, 0) > 0,
          f"old {KIDS_SEEN.get(old_kid, 0)}, new {KIDS_SEEN.get(new_kid, 0)}")
    check("the balancer's JWK Set holds only the new key at the end", kids_now == [new_kid], str(kids_now))
    check(f"{SIGHUPS} SIGHUPs sent", STATS["sighups"] == SIGHUPS, str(STATS["sighups"]))
    alive = all(p.poll() is None for p in C.replicas)
    check("all replicas still running at the end", alive)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rc = 0
    try:
        main()
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        check("the run completed", False, repr(e))
    finally:
        STOP.set()
        kill_all()
    passed = sum(1 for _, ok in RESULTS if ok)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
