#!/usr/bin/env python3
"""Hostile-traffic scenarios against a tokenmint binary (issue 13's figures).

    python3 benches/hostile.py BINARY [SCENARIO ...]

Starts BINARY on 127.0.0.1 with a scratch config and keys (one worker unless
said otherwise), runs each scenario, prints what it measured and stops the
server. Scenarios: concurrency, lockout, timing, slow_bodies, sources.
Every loop is bounded in count and time; only 127.0.0.x is ever contacted.
Standard library only, so it runs with the machine's python3.

With TM_STORE_URL (e.g. redis://127.0.0.1:6390/0) every server uses that shared
store (a fresh key file); the scenarios then also print the store's operations
and their p99 (from tokenmint_store_operation_duration_seconds).
"""

import asyncio
import base64
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
FORM = "application/x-www-form-urlencoded"


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def hash_secret(binary, secret, iterations):
    out = subprocess.run([binary, "hash-secret", "--iterations", str(iterations)],
                         input=secret.encode(), capture_output=True, check=True)
    return out.stdout.decode().strip()


class Server:
    def __init__(self, binary, clients, throttle="", workers=1, trusted=None):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="tm-hostile-")
        self.port = free_port()
        subprocess.run([binary, "keygen", "--alg", "ES256", "--dir", f"{self.dir}/keys"],
                       capture_output=True, check=True)
        throttle_toml = f"[throttle]\n{throttle}\n"
        if trusted:
            throttle_toml += f"trusted_proxies = {trusted!r}\n".replace("'", '"')
        config = (f'issuer = "http://{HOST}:{self.port}"\n'
                  f'[server]\nlisten = "{HOST}:{self.port}"\nworkers = {workers}\n'
                  f'[keys]\ndir = "{self.dir}/keys"\n'
                  f'[tokens]\naudience = ["https://api.example.com"]\n'
                  f"{throttle_toml}{clients}")
        store_url = os.environ.get("TM_STORE_URL")
        if store_url:
            with open(f"{self.dir}/store.key", "wb") as f:
                f.write(os.urandom(32))
            config += f'\n[store]\nurl = "{store_url}"\nkey_file = "{self.dir}/store.key"\n'
        with open(f"{self.dir}/tm.toml", "w") as f:
            f.write(config)
        self.log = open(f"{self.dir}/log.txt", "w")
        env = dict(os.environ, RUST_LOG="warn")
        self.proc = subprocess.Popen([binary, "serve", "--config", f"{self.dir}/tm.toml"],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        for _ in range(100):
            try:
                socket.create_connection((HOST, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"server did not start; see {self.dir}/log.txt")

    def metrics(self):
        with socket.create_connection((HOST, self.port), timeout=5) as conn:
            conn.sendall(f"GET /metrics HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        return data.decode(errors="replace")

    def store_summary(self):
        """Store operations by op and result, and each op's p99 from the histogram."""
        if not os.environ.get("TM_STORE_URL"):
            return ""
        text = self.metrics()
        ops, buckets = {}, {}
        for line in text.splitlines():
            if line.startswith("tokenmint_store_operations_total{"):
                labels, value = line.rsplit(" ", 1)
                ops[labels.split("{", 1)[1].rstrip("}")] = int(float(value))
            elif line.startswith("tokenmint_store_operation_duration_seconds_bucket{"):
                labels, value = line.rsplit(" ", 1)
                fields = dict(kv.split("=", 1) for kv in labels.split("{", 1)[1].rstrip("}").split(","))
                op, le = fields["op"].strip('"'), fields["le"].strip('"')
                buckets.setdefault(op, []).append((float("inf") if le == "+Inf" else float(le), float(value)))
        p99 = {}
        for op, bs in buckets.items():
            bs.sort()
            total = bs[-1][1]
            if total:
                p99[op] = next(f"{le * 1000:g} ms" for le, n in bs if n >= 0.99 * total)
        return f"  store operations {ops}; p99 (bucket bound) {p99}"

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def basic(cid, secret):
    return "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()


async def post(port, auth=None, body="grant_type=client_credentials", headers=(), source=HOST,
               timeout=60):
    """One request on its own connection; returns (status, seconds)."""
    start = time.perf_counter()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(HOST, port, local_addr=(source, 0)), timeout)
    lines = [f"POST /oauth2/token HTTP/1.1", f"Host: {HOST}", f"Content-Type: {FORM}",
             f"Content-Length: {len(body)}", "Connection: close"]
    if auth:
        lines.append(f"Authorization: {auth}")
    lines += [f"{k}: {v}" for k, v in headers]
    writer.write(("\r\n".join(lines) + "\r\n\r\n" + body).encode())
    await writer.drain()
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        await asyncio.wait_for(reader.read(), timeout)
    except asyncio.TimeoutError:
        return (0, time.perf_counter() - start)
    finally:
        writer.close()
    status = int(status_line.split()[1]) if status_line else 0
    return (status, time.perf_counter() - start)


def tally(results):
    counts = {}
    for status, _ in results:
        counts[status] = counts.get(status, 0) + 1
    return dict(sorted(counts.items()))


async def concurrency(binary):
    hashed = hash_secret(binary, "right-secret", 600_000)
    clients = (f'[[clients]]\nid = "hashed"\nsecret_hash = "{hashed}"\nscopes = ["a"]\n'
               f'[[clients]]\nid = "valid"\nsecret_hash = "{hashed}"\nscopes = ["a"]\n')
    server = Server(binary, clients, "failures_per_client = 10\nfailures_per_address = 30", workers=2)
    try:
        results = await asyncio.gather(*[post(server.port, basic("hashed", "wrong")) for _ in range(60)])
        print(f"  60 concurrent wrong secrets, one id, one address: {tally(results)} (limit 10)")
        server.stop()
        server = Server(binary, clients, "failures_per_client = 10\nfailures_per_address = 30", workers=2)
        start = time.perf_counter()
        attack = [post(server.port, basic(f"nobody-{i}", f"guess-{i}"), source="127.0.0.2")
                  for i in range(200)]
        valid = asyncio.ensure_future(asyncio.sleep(0.05))
        tasks = asyncio.gather(*attack)
        await valid
        status, waited = await post(server.port, basic("valid", "right-secret"))
        results = await tasks
        elapsed = time.perf_counter() - start
        print(f"  200 concurrent unknown ids, one address: {tally(results)} (limit 30), "
              f"{elapsed:.1f} s; meanwhile a valid hashed client from another address: "
              f"{status} after {waited * 1000:.0f} ms")
        summary = server.store_summary()
        if summary:
            print(summary)
    finally:
        server.stop()


async def lockout(binary):
    server = Server(binary, '[[clients]]\nid = "svc"\nsecret = "svc-secret"\nscopes = ["a"]\n',
                    "failures_per_client = 10\nfailures_per_address = 30")
    try:
        for _ in range(10):
            await post(server.port, basic("svc", "wrong"), source="127.0.0.2")
        status, _ = await post(server.port, basic("svc", "svc-secret"), source="127.0.0.1")
        print(f"  10 wrong secrets from 127.0.0.2, then the right one from 127.0.0.1: {status}")
    finally:
        server.stop()


async def timing(binary, n=30):
    one = hash_secret(binary, "right-secret", 600_000)
    two = hash_secret(binary, "old-secret", 600_000)
    clients = ('[[clients]]\nid = "plain"\nsecret = "plain-secret"\nscopes = ["a"]\n'
               f'[[clients]]\nid = "hashed"\nsecret_hash = "{one}"\nprevious_secret_hash = "{two}"\nscopes = ["a"]\n')
    server = Server(binary, clients, "failures_per_client = 0\nfailures_per_address = 0")
    try:
        cases = [("unknown id", basic("nobody", "guess")),
                 ("known plaintext id, wrong secret", basic("plain", "guess")),
                 ("known hashed id with previous_secret_hash, wrong secret", basic("hashed", "guess")),
                 ("hashed id, secret with '+' sent raw", basic("hashed", "gu+ss"))]
        for name, auth in cases:
            times = []
            for _ in range(n):
                status, t = await post(server.port, auth)
                assert status == 401, status
                times.append(t)
            print(f"  {name}: median {statistics.median(times) * 1000:.1f} ms over {n}")
    finally:
        server.stop()


async def trickler(port, deadline, held, answered):
    start = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(f"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
                     "Content-Length: 1000\r\n\r\ng".encode())
        await writer.drain()
        while time.perf_counter() < deadline:
            try:
                data = await asyncio.wait_for(reader.read(1024), 1.0)
                if not data:
                    break
                answered.append(data[:12])
            except asyncio.TimeoutError:
                writer.write(b"r")
                await writer.drain()
        writer.close()
    except (OSError, ConnectionError):
        pass
    held.append(time.perf_counter() - start)


async def slow_bodies(binary, count=5000, seconds=25):
    server = Server(binary, '[[clients]]\nid = "svc"\nsecret = "svc-secret"\nscopes = ["a"]\n', "")
    try:
        fresh = server.rss_kb()
        # Warm up as a serving server is: 50 connections, 1000 tokens.
        sem = asyncio.Semaphore(50)

        async def warm():
            async with sem:
                return await post(server.port, basic("svc", "svc-secret"))

        await asyncio.gather(*[warm() for _ in range(1000)])
        await asyncio.sleep(2)
        before = server.rss_kb()
        rounds = []
        for _ in range(2):
            deadline = time.perf_counter() + seconds
            held, answered = [], []
            tasks = [asyncio.ensure_future(trickler(server.port, deadline, held, answered))
                     for _ in range(count)]
            await asyncio.sleep(3)
            peak = server.rss_kb()
            served = []
            for _ in range(10):
                status, t = await post(server.port, basic("svc", "svc-secret"))
                served.append((status, t))
                await asyncio.sleep(0.3)
            await asyncio.gather(*tasks)
            await asyncio.sleep(5)
            rounds.append((peak / 1024, server.rss_kb() / 1024))
        after = server.rss_kb()
        settle = [after / 1024]
        cut = sum(1 for h in held if h < seconds - 1)
        print(f"  {count} slow-body connections (1 byte/s): RSS {fresh / 1024:.1f} MB at start, "
              f"{before / 1024:.1f} MB after a warm-up (1000 tokens on 50 connections), "
              f"then, in each of two rounds, MB with them open / 5 s after: "
              f"{', '.join(f'{p:.1f} / {a:.1f}' for p, a in rounds)}; "
              f"{cut} cut by the server before the {seconds} s the client would hold them "
              f"(median held {statistics.median(held):.1f} s); other client meanwhile: "
              f"{tally(served)}, worst {max(t for _, t in served) * 1000:.0f} ms")
    finally:
        server.stop()


async def sources(binary, count=30_000):
    server = Server(binary, '[[clients]]\nid = "svc"\nsecret = "svc-secret"\nscopes = ["a"]\n',
                    "failures_per_client = 10\nfailures_per_address = 30",
                    trusted=["127.0.0.1"])
    try:
        before = server.rss_kb()
        start = time.perf_counter()
        sem = asyncio.Semaphore(64)

        async def one(i):
            async with sem:
                ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
                return await post(server.port, basic(f"nobody-{i}", "wrong"), headers=[("X-Forwarded-For", ip)])

        results = await asyncio.gather(*[one(i) for i in range(count)])
        elapsed = time.perf_counter() - start
        after = server.rss_kb()
        print(f"  {count} unique X-Forwarded-For sources through a trusted proxy: {tally(results)}, "
              f"{count / elapsed:.0f} req/s; RSS {before / 1024:.1f} MB before, {after / 1024:.1f} MB after "
              f"({(after - before) * 1024 / count:.0f} B per source)")
    finally:
        server.stop()


SCENARIOS = {"concurrency": concurrency, "lockout": lockout, "timing": timing,
             "slow_bodies": slow_bodies, "sources": sources}


def main():
    binary = os.path.realpath(sys.argv[1])
    names = sys.argv[2:] or list(SCENARIOS)
    print(f"{binary}")
    for name in names:
        print(f"{name}:")
        asyncio.run(SCENARIOS[name](binary))


if __name__ == "__main__":
    main()
