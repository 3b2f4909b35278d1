#!/usr/bin/env python3
"""New TLS connections per second, each doing one GET /healthz, with and
without session resumption (tickets; TLS 1.2 and 1.3 separately).

    python3 benches/tls_resumption.py PORT CA_PEM [N]

PORT is a tokenmint HTTPS listener on 127.0.0.1 whose certificate is for
`localhost` and signed by (or is) CA_PEM; N connections per run (1000).
TCP_NODELAY is set: without it, a resumed TLS 1.2 handshake (client
Finished, then the request, in two small writes) meets Nagle and delayed
ACKs and takes ~45 ms on loopback, whatever the server does.
"""

import socket
import ssl
import sys
import time


def run(port, ca, n, version, resume):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ctx.maximum_version = version
    request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    session, resumed = None, 0
    start = time.perf_counter()
    for _ in range(n):
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        tls.sendall(request)
        response = b""
        while chunk := tls.recv(4096):
            response += chunk
        if b" 200 " not in response.split(b"\r\n", 1)[0]:
            sys.exit(f"unexpected response: {response[:80]!r}")
        resumed += tls.session_reused
        if resume:
            session = tls.session  # read after the response: TLS 1.3 tickets come late
        tls.close()
    elapsed = time.perf_counter() - start
    name = "TLS 1.3" if version == ssl.TLSVersion.TLSv1_3 else "TLS 1.2"
    mode = "resumed" if resume else "full handshakes"
    print(f"{name} {mode:15}: {n} connections in {elapsed:.2f} s = {n / elapsed:.0f}/s ({resumed} resumed)")


def main():
    port, ca = int(sys.argv[1]), sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        for resume in (False, True):
            run(port, ca, n, version, resume)


if __name__ == "__main__":
    main()
