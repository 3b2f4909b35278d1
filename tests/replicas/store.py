"""Shared store proof (issue #22): three replicas behind HAProxy sharing a real Redis.

Run by `tests/replicas/run.sh --store` (which makes the interop venv, installs haproxy and
redis-server when missing):

    python store.py --bin TOKENMINT --work SCRATCH_DIR

Reuses replicas.py's layout and helpers: three `tokenmint serve` on 127.0.0.2-4 sharing one
config file and keys directory, HAProxy on 127.0.0.1 (TLS passed through, round robin,
/readyz health checks). Every Redis is Debian's redis-server, started here on 127.0.0.1 on a
free port with `--save ""`. The replicas are restarted for every store, so that nothing from
one store's checks (in-process throttle counters, verified secrets) carries into the next.

1. one Redis; 2. a three-master Redis Cluster; rediss:// with an ACL user, a password_file and
a ca_file. For each, through the balancer:
   a. one ES256 private_key_jwt assertion sent to each replica in turn: one 200, two 401 (replayed),
      the replayed counter rising on the two replicas that did not issue;
   b. 60 concurrent wrong secrets for one client: at most failures_per_client (10) x 401,
      the rest 429;
   c. 300 concurrent requests of a client with quota = { per_hour = 100 }: exactly 100 x 200
      and 200 x 429, each 429 with Retry-After (how many 429 were the quota's is printed);
   and, with one Redis, d. 30 concurrent valid assertions of one client: all 200 (requests in
      flight are not failures for the brute-force limits).
3. Faults, one Redis, 64 kept-alive connections of load through the balancer mixing a secret
   client verified before (no quota), a quota client and fresh assertions (of 8 clients), plus
   one probe per replica (the quota client, directly): Redis killed (SIGKILL) and started
   again on the same port, then paused (SIGSTOP) and resumed (SIGCONT). on_error = "closed":
   what needs the store gets 503 temporarily_unavailable with Retry-After: 1 while it is down
   or paused (a paused Redis after timeout_ms), the verified client keeps getting 200, no other
   5xx, no 429 (nothing fails authentication), tokenmint_store_up goes 0 then 1, and every
   replica serves again within a second of Redis answering (printed). on_error = "local":
   every answer is 200 or 429, never 5xx, and no 429 either. Both: after the load, Redis
   restarted once more with the replicas idle, then one assertion to each a second later: 200,
   from the store (no fallback). The records of both runs are kept in SCRATCH_DIR/faults-*.json
   (run.sh removes the directory unless REPLICAS_KEEP=1).

A check line per item; last line "N passed, M failed"; exit 1 on any failure.
"""

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replicas as R  # noqa: E402  (its main() runs only under __main__)
from replicas import C, check, log  # noqa: E402

HOSTS = R.REPLICA_HOSTS
ISSUER = R.ISSUER
TIMEOUT_MS = 200             # [store] timeout_ms (the tests/api/store.rs value; default 50)
FAILURES_PER_CLIENT = 10
QUOTA = 100
LOAD_CONNECTIONS = 64
# The load's assertions come from 8 clients (8 connections each), so that no client has more
# than about 3 in flight: see check_concurrent_assertions for one client with 30.
SIGNERS = [f"signer-{n}" for n in range(8)]
STORE_KINDS = ("metered", "assertion")  # what the verified secret client ("steady") is not
RECOVERY_LIMIT = 1.0         # seconds from Redis answering again to every replica serving
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM = "application/x-www-form-urlencoded"


def now():
    return time.monotonic()


# ---------------------------------------------------------------- redis


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(p):
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False


class Redis:
    """One redis-server of ours on 127.0.0.1:port, restartable on the same port.
    tls = (cert, key, ca) serves TLS only; auth = (user, password) for the PING."""

    def __init__(self, name, port, extra=(), tls=None, auth=None):
        self.name, self.port, self.extra, self.tls, self.auth = name, port, list(extra), tls, auth
        self.dir = f"{C.work}/{name}"
        os.makedirs(self.dir, exist_ok=True)
        self.p = None

    def start(self):
        # --set-proc-title no: the command line keeps naming our scratch dir, so run.sh's
        # last-resort cleanup can find this process.
        args = ["redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.dir, "--set-proc-title", "no"]
        if self.tls:
            cert, key, _ = self.tls
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", cert,
                     "--tls-key-file", key, "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        with open(f"{self.dir}/redis.log", "a") as logf:
            self.p = subprocess.Popen(args + self.extra, stdout=logf, stderr=subprocess.STDOUT, cwd=self.dir)
        R.remember(self.p)
        deadline = now() + 10
        while not self.ping():
            if self.p.poll() is not None or now() > deadline:
                raise RuntimeError(f"{self.name}: redis-server did not start; see {self.dir}/redis.log")
            time.sleep(0.01)
        return self

    def ping(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
        except OSError:
            return False
        try:
            if self.tls:
                ctx = ssl.create_default_context(cafile=self.tls[2])
                s = ctx.wrap_socket(s, server_hostname="localhost")
            cmd = b""
            if self.auth:
                user, pw = self.auth
                cmd += f"AUTH {user} {pw}\r\n".encode()
            s.sendall(cmd + b"PING\r\n")
            got = b""
            while b"PONG" not in got and b"-" not in got[:1]:
                chunk = s.recv(256)
                if not chunk:
                    break
                got += chunk
            return b"+PONG" in got
        except (OSError, ssl.SSLError):
            return False
        finally:
            s.close()

    def send(self, sig):
        self.p.send_signal(sig)

    def stop(self, sig=signal.SIGKILL):
        if self.p and self.p.poll() is None:
            self.p.send_signal(sig)
            self.p.wait(timeout=10)


def start_cluster():
    """Three masters joined into a Redis Cluster: ports whose bus port (+10000) is free."""
    ports = []
    candidate = random.randrange(20000, 45000)
    while len(ports) < 3:
        candidate += 7
        if candidate + 10000 < 65536 and port_free(candidate) and port_free(candidate + 10000):
            ports.append(candidate)
    nodes = [Redis(f"cluster-{p}", p, ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                      "--cluster-node-timeout", "2000"]).start() for p in ports]
    r = R.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
               "--cluster-replicas", "0", "--cluster-yes"])
    if r.returncode != 0:
        raise RuntimeError(f"redis-cli --cluster create: {r.stdout[-300:]} {r.stderr[-300:]}")
    deadline = now() + 20
    while True:
        states = [R.run(["redis-cli", "-p", str(p), "cluster", "info"]).stdout for p in ports]
        if all("cluster_state:ok" in s for s in states):
            return nodes
        if now() > deadline:
            raise RuntimeError("the Redis Cluster did not reach cluster_state:ok within 20 s")
        time.sleep(0.1)


# ---------------------------------------------------------------- tokenmint


def make_signer():
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", alg="ES256", use="sig")
    C.signer_key = key
    C.signer_jwk = "{ " + ", ".join(f'{k} = "{v}"' for k, v in sorted(jwk.items())) + " }"


def assertion(client="signer"):
    """A token request body with a fresh client assertion (a new jti) of `client`."""
    t = int(time.time())
    claims = {"iss": client, "sub": client, "aud": ISSUER, "iat": t, "exp": t + 60, "jti": uuid.uuid4().hex}
    a = jwt.encode(claims, C.signer_key, algorithm="ES256", headers={"kid": "k1"})
    return f"grant_type=client_credentials&client_assertion_type={JWT_BEARER}&client_assertion={a}"


def dpop_proof(nonce=None):
    """A fresh DPoP proof (RFC 9449) of C.dpop_key for the token endpoint."""
    claims = {"jti": uuid.uuid4().hex, "htm": "POST", "htu": f"{ISSUER}/oauth2/token", "iat": int(time.time())}
    if nonce:
        claims["nonce"] = nonce
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(C.dpop_key.public_key()))
    return jwt.encode(claims, C.dpop_key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": public})


def check_dpop(name):
    """A proof accepted by one replica is refused by the others (the shared replay check),
    and a nonce one replica issued is accepted by the others (the shared nonce secret)."""
    proof = dpop_proof()
    answers = [post("grant_type=client_credentials", auth=("steady", "steady-secret"), host=h,
                    extra={"DPoP": proof}) for h in HOSTS]
    sts = [s for s, _, _ in answers]
    types = [json.loads(b).get("token_type") if s == 200 else error_code(b) for s, _, b in answers]
    check(f"{name}: d: one DPoP proof sent to each replica: 200 DPoP, then 2 x 400 invalid_dpop_proof",
          sts == [200, 400, 400] and types == ["DPoP", "invalid_dpop_proof", "invalid_dpop_proof"],
          f"statuses {sts}, {types}")
    auth = ("nonced", "nonced-secret")
    s0, h0, b0 = post("grant_type=client_credentials", auth=auth, host=HOSTS[0], extra={"DPoP": dpop_proof()})
    nonce = h0.get("DPoP-Nonce")
    later = [post("grant_type=client_credentials", auth=auth, host=h, extra={"DPoP": dpop_proof(nonce)})
             for h in HOSTS[1:]]
    check(f"{name}: e: a DPoP nonce issued by replica 1 (400 use_dpop_nonce) is accepted by replicas 2 and 3",
          s0 == 400 and error_code(b0) == "use_dpop_nonce" and nonce and [s for s, _, _ in later] == [200, 200],
          f"first {s0} {error_code(b0)} nonce={'yes' if nonce else 'no'}, then {[s for s, _, _ in later]}")


def write_config(store, quota=QUOTA, on_error="closed"):
    body = f'''issuer = "{ISSUER}"

[server]
listen = "127.0.0.1:{R.PUBLIC_PORT}"   # each replica's own address comes from TOKENMINT_SERVER__LISTEN
workers = 1

[server.tls]
cert = "{C.tls}/server.pem"
key = "{C.tls}/server.key"

[keys]
dir = "{C.keys}"

[tokens]
default_ttl = 60
audience = ["{R.AUD}"]

[throttle]
failures_per_client = {FAILURES_PER_CLIENT}
failures_per_address = 1000

[dpop]
nonce_secret_file = "{C.work}/dpop-nonce.key"

[store]
{store}
key_file = "{C.work}/store-hash.key"
timeout_ms = {TIMEOUT_MS}
on_error = "{on_error}"
'''
    for cid, extra in (("steady", ""), ("guessed", ""), ("metered", f"quota = {{ per_hour = {quota} }}"),
                       ("nonced", "dpop_nonce = true")):
        body += f'''
[[clients]]
id = "{cid}"
secret = "{cid}-secret"
scopes = ["reports:read"]
{extra}
'''
    for cid in ["signer"] + SIGNERS:  # one key for all: the load spreads its assertions over SIGNERS
        body += f'''
[[clients]]
id = "{cid}"
auth_methods = ["private_key_jwt"]
scopes = ["reports:read"]
jwks = [{C.signer_jwk}]
'''
    tmp = C.config + ".tmp"
    with open(tmp, "w") as f:
        f.write(body)
    os.replace(tmp, C.config)


def metrics(i):
    """{(name, ((label, value), ...)): value} of replica i's /metrics."""
    st, _, body = R.http("GET", f"http://{HOSTS[i]}:{R.ADMIN_PORT}/metrics", timeout=3)
    out = {}
    if st != 200:
        return out
    for line in body.decode().splitlines():
        m = re.match(r'^([a-z_]+)(?:\{(.*)\})? ([-+0-9.eE]+|NaN)$', line)
        if m:
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(ms, name, **labels):
    """Sum of `name` over the series whose labels include `labels`; None when absent."""
    vals = [v for (n, ls), v in ms.items() if n == name and set(labels.items()) <= set(ls)]
    return sum(vals) if vals else None


def store_up(i):
    return metric(metrics(i), "tokenmint_store_up")


def stop_replicas():
    """SIGTERM to every running replica; their exit statuses."""
    codes = []
    for p in C.replicas:
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in C.replicas:
        if p is None:
            continue
        try:
            codes.append(p.wait(timeout=15))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append("timeout")
    C.replicas = [None, None, None]
    return codes


def deploy(name, store, **kw):
    """(Re)starts the three replicas on a config with `store`; waits for the store and HAProxy."""
    codes = stop_replicas()
    if any(c != 0 for c in codes):
        check(f"replicas stopped cleanly before {name}", False, str(codes))
    if C.haproxy:
        # Out of the balancer first, so that "all UP" below is about the new processes.
        deadline = now() + 10
        while not all(R.haproxy_status(i).startswith("DOWN") for i in range(3)) and now() < deadline:
            time.sleep(0.05)
    write_config(store, **kw)
    r = R.run([C.bin, "check-config", "--config", C.config])
    said = (r.stdout + r.stderr).strip().splitlines()
    check(f"{name}: check-config accepts the config and reaches the store", r.returncode == 0,
          next((ln.strip() for ln in said if ln.startswith("store:")), said[-1] if said else ""))
    for i in range(3):
        R.start_replica(i)
    if not C.haproxy:
        C.haproxy = R.start_haproxy()
    deadline = now() + 15
    while now() < deadline:
        if all(store_up(i) == 1 for i in range(3)) and all(R.haproxy_status(i).startswith("UP") for i in range(3)):
            log(f"{name}: 3 replicas up, tokenmint_store_up 1 on each, HAProxy sees all UP")
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name}: store_up {[store_up(i) for i in range(3)]}, "
                       f"HAProxy {[R.haproxy_status(i) for i in range(3)]} after 15 s")


# ---------------------------------------------------------------- requests


def post(body, auth=None, host=None, timeout=20, extra=None):
    """(status, headers, body) of one token request on a new connection: through the
    balancer, or to replica address `host`; `extra` headers added."""
    headers = {"Content-Type": FORM, **(extra or {})}
    if auth:
        headers["Authorization"] = R.basic(*auth)
    base = f"https://{host}:{R.PUBLIC_PORT}" if host else ISSUER
    return R.http("POST", f"{base}/oauth2/token", data=body.encode(), headers=headers, ctx=C.ctx, timeout=timeout)


def secret_request(cid, secret=None, **kw):
    return post("grant_type=client_credentials", auth=(cid, secret or f"{cid}-secret"), **kw)


def error_code(body):
    try:
        return json.loads(body).get("error")
    except Exception:  # noqa: BLE001
        return None


def burst(n, make_body, auth=None):
    """n token requests through the balancer at once: n connections opened first (TLS
    handshake done), then every request sent together. make_body() gives each its form."""
    barrier = threading.Barrier(n, timeout=60)
    headers = {"Content-Type": FORM}
    if auth:
        headers["Authorization"] = R.basic(*auth)

    def one(_):
        conn = http.client.HTTPSConnection(R.LB_HOST, R.PUBLIC_PORT, context=C.ctx, timeout=30)
        try:
            conn.connect()
            body = make_body().encode()
            barrier.wait()
            conn.request("POST", "/oauth2/token", body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.headers, r.read()
        except Exception as e:  # noqa: BLE001 - any transport failure counts
            return 0, {}, repr(e).encode()
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def counts(results):
    c = {}
    for st, _, _ in results:
        c[st] = c.get(st, 0) + 1
    return dict(sorted(c.items()))


def delta(before, after, name, **labels):
    """Per replica: the rise of `name` (summed over the series with `labels`)."""
    return [int((metric(after[i], name, **labels) or 0) - (metric(before[i], name, **labels) or 0)) for i in range(3)]


def check_replay(name):
    before = [metrics(i) for i in range(3)]
    form = assertion()
    # To each replica's own address, in turn: HAProxy's round robin is not strictly
    # alternating right after the replicas (re)start.
    statuses = [post(form, host=h) for h in HOSTS]
    after = [metrics(i) for i in range(3)]
    issued = delta(before, after, "tokenmint_token_requests_total", client_id="signer", result="issued")
    replayed = delta(before, after, "tokenmint_auth_failures_total", reason="replayed")
    sts = [s for s, _, _ in statuses]
    errors = [error_code(b) for s, _, b in statuses if s == 401]
    ok = (sts == [200, 401, 401] and errors == ["invalid_client"] * 2
          and issued == [1, 0, 0] and all(r == (1 - t) for r, t in zip(replayed, issued)))
    check(f"{name}: a: one assertion sent to each replica: 1 x 200, then 2 x 401 invalid_client, "
          "the replayed counter +1 on each of the two other replicas", ok,
          f"statuses {sts}; per replica issued {issued}, replayed +{replayed}")


def check_throttle(name):
    before = [metrics(i) for i in range(3)]
    results = burst(60, lambda: "grant_type=client_credentials", auth=("guessed", "wrong-secret"))
    after = [metrics(i) for i in range(3)]
    c = counts(results)
    n401, n429 = c.get(401, 0), c.get(429, 0)
    per_replica = delta(before, after, "tokenmint_auth_failures_total", reason="wrong_secret")
    throttled = delta(before, after, "tokenmint_throttled_total")
    retry = all(h.get("Retry-After") for s, h, _ in results if s == 429)
    check(f"{name}: b: 60 concurrent wrong secrets over the 3 replicas: at most {FAILURES_PER_CLIENT} x 401, "
          "the rest 429 with Retry-After",
          1 <= n401 <= FAILURES_PER_CLIENT and n401 + n429 == 60 and retry
          and min(a + b for a, b in zip(per_replica, throttled)) > 0,
          f"{n401} x 401, {n429} x 429, all {c}; per replica wrong_secret {per_replica}, throttled {throttled}")


def wait_past_hour_end(margin=15):
    """Quotas are per fixed UTC hour: never run a burst across the boundary."""
    left = 3600 - time.time() % 3600
    if left < margin:
        log(f"waiting {left:.0f} s for the next UTC hour")
        time.sleep(left + 1)


def check_quota(name):
    wait_past_hour_end()
    hour = int(time.time() // 3600)
    before = [metrics(i) for i in range(3)]
    results = burst(3 * QUOTA, lambda: "grant_type=client_credentials", auth=("metered", "metered-secret"))
    after = [metrics(i) for i in range(3)]
    c = counts(results)
    n200, n429 = c.get(200, 0), c.get(429, 0)
    refused = [(h, b) for s, h, b in results if s == 429]
    retry = [h.get("Retry-After") for h, _ in refused]
    good_retry = all(r and r.isdigit() and 0 < int(r) <= 3600 for r in retry)
    retry_shown = sorted({str(r) for r in retry}, key=lambda r: int(r) if r.isdigit() else -1)
    codes = {error_code(b) for _, b in refused}
    if int(time.time() // 3600) != hour:
        log("the UTC hour changed during the burst: the count may be off")
    spent = sum(delta(before, after, "tokenmint_quota_exceeded_total", client_id="metered"))
    throttled = sum(delta(before, after, "tokenmint_throttled_total"))
    check(f"{name}: c: {3 * QUOTA} concurrent requests of a client with quota {QUOTA}/h: exactly {QUOTA} x 200 "
          f"and {2 * QUOTA} x 429 temporarily_unavailable, each with Retry-After, every 429 the quota's "
          "(the source failed before with another client: its right secret is still never throttled)",
          n200 == QUOTA and n429 == 2 * QUOTA and good_retry and codes <= {"temporarily_unavailable"}
          and spent == 2 * QUOTA and throttled == 0,
          f"{c}; of the 429: {spent} the quota's, {throttled} the brute-force limits' (no failure was made); "
          f"Retry-After {retry_shown}; errors {sorted(codes, key=str)}")


def check_concurrent_assertions(name, n=30):
    """Not in the issue's list: from a source that has not failed, valid
    assertions in flight at once are not failures. (Once the source has
    failed, each assertion reserves a failure before its check, and more in
    flight than failures_per_client get 429: docs/deployment.md.)"""
    before = [metrics(i) for i in range(3)]
    results = burst(n, assertion)
    after = [metrics(i) for i in range(3)]
    retry = sorted({h.get("Retry-After") for s, h, _ in results if s == 429}, key=str)
    check(f"{name}: d: {n} concurrent valid assertions (fresh jtis) of one client through the balancer: all 200 "
          f"(checks in flight are not failures: failures_per_client is {FAILURES_PER_CLIENT})",
          counts(results) == {200: n},
          f"{counts(results)}; throttled per replica {delta(before, after, 'tokenmint_throttled_total')}, "
          f"Retry-After {retry}")


# ---------------------------------------------------------------- faults


class Load:
    """LOAD_CONNECTIONS kept-alive connections through the balancer, each cycling over the
    verified secret client, the quota client and fresh assertions; one probe per replica
    (the quota client, directly, every 25 ms); a monitor of tokenmint_store_up (100 ms).
    Every answer is recorded as (start, end, kind, status, Retry-After, error)."""

    KINDS = ("steady", "metered", "assertion")

    def __init__(self):
        self.stop = threading.Event()
        self.records = []    # load, through the balancer
        self.probes = []     # (start, end, replica, status)
        self.ups = []        # (t, replica, store_up)
        self.reconnects = []  # (t, host, kind, error): a reused connection failed (retried once)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=(k,), daemon=True) for k in range(LOAD_CONNECTIONS)]
        self.threads += [threading.Thread(target=self.probe, args=(i,), daemon=True) for i in range(3)]
        self.threads.append(threading.Thread(target=self.monitor, daemon=True))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=20)

    @staticmethod
    def request(conn, kind):
        if kind.startswith("signer"):
            body, headers = assertion(kind), {"Content-Type": FORM}
        else:
            body = "grant_type=client_credentials"
            headers = {"Content-Type": FORM, "Authorization": R.basic(kind, f"{kind}-secret")}
        conn.request("POST", "/oauth2/token", body=body.encode(), headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, r.getheader("Retry-After"), error_code(data), r.getheader("Connection", "")

    def answer(self, host, kind, state):
        """One request on the connection kept in state["conn"]: (status, retry_after, error)."""
        for attempt in (0, 1):
            fresh = state.get("conn") is None
            if fresh:
                state["conn"] = http.client.HTTPSConnection(host, R.PUBLIC_PORT, context=C.ctx, timeout=10)
            try:
                st, retry, err, connection = self.request(state["conn"], kind)
                if connection.lower() == "close":
                    state["conn"].close()
                    state["conn"] = None
                return st, retry, err
            except Exception as e:  # noqa: BLE001
                state["conn"].close()
                state["conn"] = None
                if fresh or attempt == 1:
                    return 0, None, repr(e)[:120]
                with self.lock:
                    self.reconnects.append((now(), host, kind, repr(e)[:120]))
        return 0, None, "unreachable"

    def loop(self, k):
        state, mine, n = {}, [], 0
        while not self.stop.is_set() and n < 20000:
            kind = self.KINDS[(k + n) % 3]
            if kind == "assertion":
                kind = SIGNERS[k % len(SIGNERS)]
            n += 1
            t = now()
            st, retry, err = self.answer(R.LB_HOST, kind, state)
            mine.append((t, now(), "assertion" if kind in SIGNERS else kind, st, retry, err))
            time.sleep(0.005)
        if state.get("conn"):
            state["conn"].close()
        with self.lock:
            self.records.extend(mine)

    def probe(self, i):
        state, mine, n = {}, [], 0
        while not self.stop.is_set() and n < 5000:
            n += 1
            t = now()
            st, _, _ = self.answer(HOSTS[i], "metered", state)
            mine.append((t, now(), i, st))
            time.sleep(0.025)
        with self.lock:
            self.probes.extend(mine)

    def monitor(self):
        n = 0
        while not self.stop.is_set() and n < 2000:
            n += 1
            for i in range(3):
                v = store_up(i)
                with self.lock:
                    self.ups.append((now(), i, v))
            time.sleep(0.1)


def recovery(recs, probes, back, until):
    """Seconds from `back` to the end of the first 200 started after it: per replica (the
    probes), and per kind through the balancer; and the non-200 answers needing the store that
    ended later than RECOVERY_LIMIT after `back` (until the next event)."""
    def first(rows):
        ends = [e for s, e, st in rows if back <= s < until and st == 200]
        return min(ends) - back if ends else None
    per_replica = [first([(s, e, st) for s, e, r, st in probes if r == i]) for i in range(3)]
    per_kind = {k: first([(s, e, st) for s, e, kind, st, _, _ in recs if kind == k]) for k in STORE_KINDS}
    late = [r for r in recs if r[2] in STORE_KINDS and r[3] != 200 and back + RECOVERY_LIMIT < r[1] <= until]
    late += [(s, e, "probe", st, None, None) for s, e, _, st in probes
             if st != 200 and back + RECOVERY_LIMIT < e <= until]
    return per_replica, per_kind, late


def ms(x):
    return "never" if x is None else f"{x * 1000:.0f} ms"


def fault_run(on_error):
    """Warm up, then under load: kill Redis, start it again, pause it, resume it."""
    name = f"faults ({on_error})"
    redis = Redis(f"redis-faults-{on_error}", free_port()).start()
    deploy(name, f'url = "redis://127.0.0.1:{redis.port}/0"', quota=1_000_000, on_error=on_error)
    # "Verified before": the secret clients once on each replica, with the store up.
    warm = [secret_request(cid, host=h)[0] for h in HOSTS for cid in ("steady", "metered")]
    if any(s != 200 for s in warm):
        raise RuntimeError(f"{name}: warm-up statuses {warm}")
    before = [metrics(i) for i in range(3)]
    ev = {}
    with Load() as load:
        ev["start"] = now()
        time.sleep(2)
        ev["kill"] = now()
        redis.stop(signal.SIGKILL)
        ev["killed"] = now()
        log(f"{name}: Redis killed (SIGKILL)")
        time.sleep(3)
        ev["restart"] = now()
        redis.start()
        ev["back"] = now()
        log(f"{name}: Redis started again on port {redis.port}, "
            f"answering PING after {ev['back'] - ev['restart']:.2f} s")
        time.sleep(2.5)
        ev["stop"] = now()
        redis.send(signal.SIGSTOP)
        log(f"{name}: Redis paused (SIGSTOP)")
        time.sleep(2)
        ev["cont"] = now()
        redis.send(signal.SIGCONT)
        log(f"{name}: Redis resumed (SIGCONT)")
        time.sleep(2.5)
        ev["end"] = now()
    after = [metrics(i) for i in range(3)]
    alive = [p.poll() is None for p in C.replicas]
    recs, probes, ups = load.records, load.probes, load.ups
    # Idle replicas: Redis restarted while nothing needs it; a second later, one request each.
    redis.stop(signal.SIGTERM)
    redis.start()
    time.sleep(RECOVERY_LIMIT)
    idle_before = [metrics(i) for i in range(3)]
    statuses = [post(assertion(), host=h)[0] for h in HOSTS]
    idle = (statuses, delta(idle_before, [metrics(i) for i in range(3)], "tokenmint_store_operations_total",
                            result="error"))
    redis.stop()
    with open(f"{C.work}/faults-{on_error}.json", "w") as f:  # for inspection (REPLICAS_KEEP=1)
        json.dump({"events": ev, "load": recs, "probes": probes, "store_up": ups, "reconnects": load.reconnects}, f)
    return name, ev, recs, probes, ups, before, after, alive, load.reconnects, idle


def segments(ev):
    return [("before the kill", ev["start"], ev["kill"]), ("Redis down", ev["kill"], ev["back"]),
            ("after the restart", ev["back"], ev["stop"]), ("Redis paused", ev["stop"], ev["cont"]),
            ("after SIGCONT", ev["cont"], ev["end"] + 30)]


def by_segment(ev, rows):
    """{segment: {kind: {status: count}}} of load records, by when they started."""
    out = {}
    for label, a, b in segments(ev):
        for s, e, kind, st, _, _ in rows:
            if a <= s < b:
                out.setdefault(label, {}).setdefault(kind, {}).setdefault(st, 0)
                out[label][kind][st] += 1
    return out


def summarize(name, ev, recs, probes):
    span = (max(e for _, e, *_ in recs) - min(s for s, *_ in recs)) if recs else 0
    print(f"  {name}: {len(recs)} answers through the balancer in {span:.1f} s ({len(recs) / max(span, 0.1):.0f}/s), "
          f"{len(probes)} probe answers", flush=True)
    print(f"  {name}: events (s from the start of the load): " + ", ".join(
        f"{k} {ev[k] - ev['start']:.2f}" for k in ("kill", "back", "stop", "cont", "end")), flush=True)
    for label, kinds in by_segment(ev, recs).items():
        print(f"    {label}: {kinds}", flush=True)


def reconnected(ev, reconnects):
    where = {label: n for label, a, b in segments(ev) if (n := sum(1 for r in reconnects if a <= r[0] < b))}
    return (f"kept-alive connections that failed a request and were reopened for it: {len(reconnects)} {where}"
            + (f", e.g. {reconnects[0][1:]}" if reconnects else ""))


def no_429(name, ev, recs, probes):
    refused = [r for r in recs if r[3] == 429]
    refused_probes = [p for p in probes if p[3] == 429]
    where = {label: sum(1 for r in refused if a <= r[0] < b) for label, a, b in segments(ev)}
    first_after = min((r[0] - ev["cont"] for r in refused if r[0] >= ev["cont"]), default=None)
    check(f"{name}: no 429 (no authentication failed and the quota is far: neither limit may refuse anyone)",
          not refused and not refused_probes,
          f"{len(refused)} load and {len(refused_probes)} probe answers 429, by when they started: {where}; "
          f"Retry-After {sorted({r[4] for r in refused}, key=str)[:6]}"
          + ("" if first_after is None else f"; the first after SIGCONT {ms(first_after)} after it"))


def store_up_seen(ev, ups, limit=None):
    """Whether every replica showed tokenmint_store_up 0 during each outage and 1 after it
    (within `limit` seconds of Redis answering again, when given; sampled every 100 ms)."""
    ok, shown = True, []
    outages = (("kill", ev["kill"], ev["back"], ev["stop"]), ("pause", ev["stop"], ev["cont"], ev["end"]))
    for label, a, b, end in outages:
        zero = all(any(v == 0 for t, i, v in ups if i == r and a <= t <= b) for r in range(3))
        ones = [min((t - b for t, i, v in ups if i == r and b < t <= end and v == 1), default=None) for r in range(3)]
        ok &= zero and all(x is not None and (limit is None or x <= limit) for x in ones)
        shown.append(f"{label}: 0 on all {zero}, 1 again after {[ms(x) for x in ones]}")
    last = [next((v for t, i, v in reversed(ups) if i == r), None) for r in range(3)]
    return ok and last == [1, 1, 1], "; ".join(shown) + f" (sampled every 100 ms); last {last}"


def check_idle(name, idle):
    statuses, errors = idle
    check(f"{name}: idle replicas: {RECOVERY_LIMIT:.0f} s after Redis restarted (no load), one assertion to each "
          "replica is served by the store", statuses == [200, 200, 200] and errors == [0, 0, 0],
          f"statuses {statuses}; failed store operations per replica {errors}")


def check_closed(run):
    name, ev, recs, probes, ups, before, after, alive, reconnects, idle = run
    summarize(name, ev, recs, probes)
    steady = [r for r in recs if r[2] == "steady"]
    check(f"{name}: the secret client verified before got 200 throughout (Redis down and paused)",
          steady and all(r[3] == 200 for r in steady), str(counts([(r[3], 0, 0) for r in steady])))
    # Down: started after the kill completed, finished before the restart began.
    down = [r for r in recs if r[2] in STORE_KINDS and r[0] >= ev["killed"] and r[1] <= ev["restart"]]
    bad = [r for r in down if (r[3], r[4], r[5]) != (503, "1", "temporarily_unavailable")]
    check(f"{name}: Redis down: every request needing the store got 503 temporarily_unavailable, Retry-After: 1",
          len(down) > 0 and not bad, f"{len(down)} requests, {len(bad)} otherwise: {bad[:3]}")
    # Paused: started a timeout after SIGSTOP, finished before SIGCONT.
    paused = [r for r in recs if r[2] in STORE_KINDS and r[0] >= ev["stop"] + TIMEOUT_MS / 1000 and r[1] <= ev["cont"]]
    bad = [r for r in paused if (r[3], r[4], r[5]) != (503, "1", "temporarily_unavailable")]
    lat = sorted(e - s for s, e, i, st in probes if s >= ev["stop"] + 0.05 and e <= ev["cont"] and st == 503)
    probe_other = [st for s, e, i, st in probes if s >= ev["stop"] + 0.05 and e <= ev["cont"] and st != 503]
    lat_txt = (f"probe 503 latency min {ms(lat[0])}, median {ms(statistics.median(lat))}, max {ms(lat[-1])}"
               if lat else "no probe answer while paused")
    check(f"{name}: Redis paused: requests needing the store got 503 (Retry-After: 1) after timeout_ms "
          f"({TIMEOUT_MS} ms)",
          len(paused) > 0 and not bad and not probe_other and lat and lat[0] >= TIMEOUT_MS / 1000 * 0.9
          and statistics.median(lat) < TIMEOUT_MS / 1000 + 0.5,
          f"{len(paused)} load requests, {len(bad)} otherwise {bad[:3]}; {lat_txt}; probe non-503 {probe_other[:5]}")
    # No 5xx but those 503s (for what needs the store, around the outages); no transport error.
    windows = [(ev["kill"], ev["back"] + RECOVERY_LIMIT), (ev["stop"], ev["cont"] + RECOVERY_LIMIT)]
    odd = [r for r in recs if r[3] not in (200, 429, 503)
           or (r[3] == 503 and (r[2] not in STORE_KINDS or not any(a <= r[1] and r[0] <= b for a, b in windows)))]
    odd += [(s, e, "probe", st, None, None) for s, e, _, st in probes if st not in (200, 429, 503)]
    check(f"{name}: no 5xx but those 503s, no transport error", not odd,
          f"{len(odd)} others, first {odd[:4]}; {reconnected(ev, reconnects)}")
    no_429(name, ev, recs, probes)
    ok, shown = store_up_seen(ev, ups)
    check(f"{name}: tokenmint_store_up went 0 then back to 1 on every replica (kill and pause)", ok, shown)
    for label, back, until in (("restart", ev["back"], ev["stop"]), ("SIGCONT", ev["cont"], ev["end"] + 30)):
        per_replica, per_kind, late = recovery(recs, probes, back, until)
        firsts = list(per_kind.values()) + per_replica
        detail = (f"first 200 after Redis answered: quota client per replica {[ms(x) for x in per_replica]}, "
                  f"through the balancer {{{', '.join(f'{k}: {ms(v)}' for k, v in per_kind.items())}}}; "
                  f"later than {RECOVERY_LIMIT:.0f} s: {len(late)} answers not 200 "
                  f"{counts([(r[3], 0, 0) for r in late])}")
        check(f"{name}: recovered within {RECOVERY_LIMIT:.0f} s of Redis answering again ({label}): what needs the "
              "store is served 200 again on every replica", all(x is not None and x <= RECOVERY_LIMIT for x in firsts)
              and not late, detail)
        C.figures.append(f"{name}, after {label}: {detail}")
    check_idle(name, idle)
    check(f"{name}: no replica exited", all(alive), str(alive))


def check_local(run):
    name, ev, recs, probes, ups, before, after, alive, reconnects, idle = run
    summarize(name, ev, recs, probes)
    bad = [r for r in recs if r[3] not in (200, 429)]
    bad += [(s, e, "probe", st, None, None) for s, e, _, st in probes if st not in (200, 429)]
    check(f"{name}: every answer 200 or 429, never 5xx nor a transport error, through both outages",
          recs and not bad, f"{len(bad)} otherwise, first {bad[:3]}; 429: {sum(1 for r in recs if r[3] == 429)}; "
          f"{reconnected(ev, reconnects)}")
    no_429(name, ev, recs, probes)
    fb = delta(before, after, "tokenmint_store_fallbacks_total")
    check(f"{name}: tokenmint_store_fallbacks_total rose on every replica", all(x > 0 for x in fb), f"{fb}")
    check_idle(name, idle)
    ok, shown = store_up_seen(ev, ups, limit=RECOVERY_LIMIT + 0.1)
    check(f"{name}: tokenmint_store_up went 0 then back to 1 on every replica within "
          f"{RECOVERY_LIMIT:.0f} s of Redis answering again (kill and pause)", ok, shown)
    C.figures.append(f"{name}: tokenmint_store_up: {shown}")
    check(f"{name}: no replica exited", all(alive), str(alive))


# ---------------------------------------------------------------- main


def make_tls_redis_cert():
    """A server certificate for Redis from the test CA (SAN DNS:localhost, CA:FALSE)."""
    R.make_cert(C.tls, "redis")
    return f"{C.tls}/redis.pem", f"{C.tls}/redis.key", f"{C.tls}/ca.pem"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    C.bin, C.work = a.bin, a.work
    C.tls, C.keys, C.config = f"{C.work}/tls", f"{C.work}/keys", f"{C.work}/tokenmint.toml"
    os.makedirs(C.tls)
    os.makedirs(C.keys)
    C.replicas = [None, None, None]
    C.haproxy = None
    C.figures = []
    R.make_ca(C.tls)
    R.make_cert(C.tls, "server")
    C.ctx = R.ssl_ctx()
    with open(f"{C.work}/store-hash.key", "wb") as f:
        f.write(os.urandom(32))
    os.chmod(f"{C.work}/store-hash.key", 0o600)
    make_signer()
    C.dpop_key = ec.generate_private_key(ec.SECP256R1())
    with open(f"{C.work}/dpop-nonce.key", "wb") as f:
        f.write(os.urandom(32))
    r = R.run([C.bin, "keygen", "--alg", "ES256", "--now", "--dir", C.keys])
    if r.returncode != 0:
        raise RuntimeError(f"keygen: {r.stderr[-300:]}")
    log(f"redis: {R.run(['redis-server', '--version']).stdout.strip()}")

    # 1. One Redis.
    redis = Redis("redis-standalone", free_port()).start()
    deploy("1 standalone", f'url = "redis://127.0.0.1:{redis.port}/0"')
    # Before anything fails from this source: see check_concurrent_assertions.
    check_concurrent_assertions("1 standalone")
    check_replay("1 standalone")
    check_dpop("1 standalone")
    check_throttle("1 standalone")
    check_quota("1 standalone")
    redis.stop()

    # 2. A three-master Redis Cluster.
    nodes = start_cluster()
    urls = ", ".join(f'"redis://127.0.0.1:{n.port}"' for n in nodes)
    deploy("2 cluster", f"cluster = [{urls}]")
    check_replay("2 cluster")
    check_dpop("2 cluster")
    check_throttle("2 cluster")
    check_quota("2 cluster")
    for n in nodes:
        n.stop()

    # 2. rediss:// with an ACL user (the default user off), a password file and the test CA.
    password = uuid.uuid4().hex
    with open(f"{C.work}/store-password", "w") as f:
        f.write(password + "\n")
    tls = make_tls_redis_cert()
    redis = Redis("redis-tls", free_port(), ["--user", "default", "off", "--user", "tm", "on", f">{password}",
                                             "~*", "+@all"], tls=tls, auth=("tm", password)).start()
    deploy("2 rediss+ACL", f'url = "rediss://tm@localhost:{redis.port}/0"\n'
                           f'password_file = "{C.work}/store-password"\nca_file = "{tls[2]}"')
    check_replay("2 rediss+ACL")
    check_throttle("2 rediss+ACL")
    check_quota("2 rediss+ACL")
    redis.stop()

    # 3. Faults under load.
    check_closed(fault_run("closed"))
    check_local(fault_run("local"))
    codes = stop_replicas()
    check("every replica exited 0 on SIGTERM at the end", all(c == 0 for c in codes), str(codes))
    print()
    for f in C.figures:
        print(f)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        check("the run completed", False, repr(e))
    finally:
        R.STOP.set()
        R.kill_all()
    passed = sum(1 for _, ok in R.RESULTS if ok)
    failed = len(R.RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
