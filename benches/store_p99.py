#!/usr/bin/env python3
"""The shared store's operations and their p99, from a tokenmint /metrics:

    python3 benches/store_p99.py http://127.0.0.1:PORT/metrics

p99 is the upper bound of the histogram bucket the 99th percentile falls in
(tokenmint_store_operation_duration_seconds). Standard library only.
"""
import sys
import urllib.request

text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
ops, buckets = {}, {}
for line in text.splitlines():
    if line.startswith("tokenmint_store_operations_total{"):
        labels, value = line.rsplit(" ", 1)
        ops[labels.split("{", 1)[1].rstrip("}")] = int(float(value))
    elif line.startswith("tokenmint_store_operation_duration_seconds_bucket{"):
        labels, value = line.rsplit(" ", 1)
        fields = dict(kv.split("=", 1) for kv in labels.split("{", 1)[1].rstrip("}").split(","))
        le = fields["le"].strip('"')
        buckets.setdefault(fields["op"].strip('"'), []).append(
            (float("inf") if le == "+Inf" else float(le), float(value)))
p99 = {}
for op, bs in sorted(buckets.items()):
    bs.sort()
    if bs[-1][1]:
        p99[op] = next(f"<= {le * 1000:g} ms" for le, n in bs if n >= 0.99 * bs[-1][1])
print(f"store operations {ops}; p99 {p99}")
