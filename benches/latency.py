#!/usr/bin/env python3
"""Single-connection latency of token requests: N sequential POSTs on one
keep-alive connection, printing median, p90, p99 (microseconds, client side).

    python3 benches/latency.py http://127.0.0.1:9443 demo-client demo-secret [N]
"""
import base64
import http.client
import json
import statistics
import sys
import time
import urllib.parse

base, client_id, secret = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
url = urllib.parse.urlsplit(base)
conn = (http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection)(
    url.hostname, url.port)
conn.connect()
# Without TCP_NODELAY, http.client's separate header and body writes meet
# the server's delayed ACK and measure Nagle, not tokenmint.
import socket
conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
auth = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
body = "grant_type=client_credentials"
samples = []
for i in range(n + 50):
    t0 = time.perf_counter()
    conn.request("POST", "/oauth2/token", body, headers)
    res = conn.getresponse()
    data = res.read()
    dt = time.perf_counter() - t0
    if res.status != 200:
        sys.exit(f"request {i}: HTTP {res.status} {data[:200]!r}")
    if i >= 50:  # warm-up excluded
        samples.append(dt * 1e6)
json.loads(data)["access_token"]
samples.sort()
q = lambda p: samples[min(len(samples) - 1, int(p * len(samples)))]
print(f"n={n} median={statistics.median(samples):.0f}us p90={q(0.9):.0f}us p99={q(0.99):.0f}us")
