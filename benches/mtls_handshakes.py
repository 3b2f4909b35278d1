#!/usr/bin/env python3
"""New TLS connections per second, each doing one full handshake (no
resumption) and one token request, with and without a client certificate:

    python3 benches/mtls_handshakes.py PORT CA_PEM N basic ID SECRET
    python3 benches/mtls_handshakes.py PORT CA_PEM N cert ID CERT_PEM KEY_PEM

PORT is a tokenmint HTTPS listener on 127.0.0.1 whose certificate is for
`localhost`, signed by CA_PEM. `basic`: the client authenticates with a
secret and sends no certificate; `cert`: it sends CERT_PEM in the handshake
and only its client_id in the body (tls_client_auth or
self_signed_tls_client_auth). 8 client threads (the handshakes release the
GIL); prints connections/s and the p50/p99 of one connection. Standard
library only.
"""

import base64
import socket
import ssl
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

THREADS = 8


def main():
    port, ca, n, mode = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    ctx = ssl.create_default_context(cafile=ca)
    headers = "Content-Type: application/x-www-form-urlencoded\r\n"
    if mode == "basic":
        cid, secret = sys.argv[5], sys.argv[6]
        body = "grant_type=client_credentials"
        headers += "Authorization: Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode() + "\r\n"
    else:
        cid, cert, key = sys.argv[5], sys.argv[6], sys.argv[7]
        ctx.load_cert_chain(cert, key)
        body = f"grant_type=client_credentials&client_id={cid}"
    ctx.options |= ssl.OP_NO_TICKET  # every connection a full handshake
    request = (f"POST /oauth2/token HTTP/1.1\r\nHost: localhost\r\n{headers}"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode()
    lock = threading.Lock()
    failures = []

    def one(_):
        started = time.perf_counter()
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(request)
            response = b""
            while chunk := tls.recv(65536):
                response += chunk
        if b" 200 " not in response.split(b"\r\n", 1)[0]:
            with lock:
                failures.append(response[:120])
        return time.perf_counter() - started

    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        times = sorted(pool.map(one, range(n)))
    elapsed = time.perf_counter() - start
    p99 = times[int(0.99 * (len(times) - 1))]
    print(f"{mode}: {n / elapsed:.0f} connections/s over {THREADS} threads, "
          f"p50 {statistics.median(times) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
          f"non-200 {len(failures)}{' first ' + repr(failures[0]) if failures else ''}")


if __name__ == "__main__":
    main()
