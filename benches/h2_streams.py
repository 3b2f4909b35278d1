#!/usr/bin/env python3
"""One HTTP/2 connection opens N token requests whose bodies never come.

    python3 benches/h2_streams.py BINARY [N]     (N defaults to 5000)
    ROUNDS=4 python3 benches/h2_streams.py BINARY  (4 x N streams, RSS after each)

Needs the `h2` package (pip install h2) and openssl. Starts BINARY with TLS
(a self-signed certificate made here) on a free 127.0.0.1 port, one worker;
opens N streams on one connection without sending bodies, ignoring any
stream limit the server advertises and never acknowledging received data
(so the server gets no flow-control window for answers beyond the first
64 KiB), as an attacker would; prints the
answers, the server's RSS while the streams are open, whether another
client is served meanwhile, and the RSS after the client closes. Bounded:
N streams, about 20 s.
"""
import atexit
import base64
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import h2.config
import h2.connection
import h2.events
import h2.settings

binary = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
d = tempfile.mkdtemp(prefix="tm-h2streams-")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
               capture_output=True, check=True)
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
subprocess.run([binary, "keygen", "--alg", "ES256", "--dir", f"{d}/keys"], capture_output=True, check=True)
open(f"{d}/tm.toml", "w").write(f'''issuer = "https://127.0.0.1:{port}"
[server]
listen = "127.0.0.1:{port}"
workers = 1
[server.tls]
cert = "{d}/cert.pem"
key = "{d}/key.pem"
[keys]
dir = "{d}/keys"
[tokens]
audience = ["https://api.example.com"]
[[clients]]
id = "svc"
secret = "svc-secret"
scopes = ["a"]
''')
log = open(f"{d}/log.txt", "w")
proc = subprocess.Popen([binary, "serve", "--config", f"{d}/tm.toml"], stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, RUST_LOG="warn"))


@atexit.register
def stop():
    """The server goes with the script, whatever ends it."""
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)
    log.close()
    shutil.rmtree(d, ignore_errors=True)


def rss():
    for l in open(f"/proc/{proc.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1]) / 1024
for _ in range(100):
    try: socket.create_connection(("127.0.0.1", port), 0.2).close(); break
    except OSError: time.sleep(0.05)
time.sleep(0.5)
start = rss()
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["h2"])
sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
assert sock.selected_alpn_protocol() == "h2"
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
conn.initiate_connection(); sock.sendall(conn.data_to_send())
sock.settimeout(0.05)
auth = "Basic " + base64.b64encode(b"svc:svc-secret").decode()
statuses = {}
remote_max = None
def pump():
    global remote_max
    try:
        while True:
            data = sock.recv(65536)
            if not data: return False
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    st = dict(ev.headers).get(b":status", b"?").decode()
                    statuses[st] = statuses.get(st, 0) + 1
                elif isinstance(ev, h2.events.StreamReset):
                    statuses["RST"] = statuses.get("RST", 0) + 1
                elif isinstance(ev, h2.events.RemoteSettingsChanged):
                    for k, v in ev.changed_settings.items():
                        if k == h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: remote_max = v.new_value
            out = conn.data_to_send()
            if out: sock.sendall(out)
    except (socket.timeout, ssl.SSLWantReadError): return True
pump()
conn.remote_settings.max_concurrent_streams = 2**31 - 1  # ignore what the server says: an attacker would
rounds = int(os.environ.get("ROUNDS", "1"))
t0 = time.time(); opened = 0
for i in range(n * rounds):
    if i and i % n == 0:
        sock.sendall(conn.data_to_send()); time.sleep(2); pump()
        print(f"  after {i} streams: RSS {rss():.1f} MB, responses {statuses}", flush=True)
    sid = conn.get_next_available_stream_id()
    try:
        conn.send_headers(sid, [(":method", "POST"), (":scheme", "https"), (":authority", "127.0.0.1"), (":path", "/oauth2/token"),
                                ("content-type", "application/x-www-form-urlencoded"), ("content-length", "1000"), ("authorization", auth)])
        opened += 1
    except Exception as e:
        print("client refused to open more:", type(e).__name__); break
    if i % 100 == 99:
        sock.sendall(conn.data_to_send()); pump()
sock.sendall(conn.data_to_send())
time.sleep(2); pump()
peak = rss()
print(f"{opened} streams opened on one connection in {time.time()-t0:.1f}s; server advertised max_concurrent_streams={remote_max}; "
      f"after 2 s: responses {statuses}; RSS {start:.1f} MB at start, {peak:.1f} MB with them open")
# Meanwhile: can another client get a token over a fresh connection?
t = time.time()
r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--user", "svc:svc-secret", "-d", "grant_type=client_credentials", f"https://127.0.0.1:{port}/oauth2/token"], capture_output=True, text=True)
print(f"another client meanwhile: {r.stdout} in {(time.time()-t)*1000:.0f} ms")
deadline = time.time() + 12
while time.time() < deadline: pump(); time.sleep(0.2)
print(f"after 12 s more: responses {statuses}; RSS {rss():.1f} MB")
sock.close(); time.sleep(3)
print(f"3 s after the client closed: RSS {rss():.1f} MB")

