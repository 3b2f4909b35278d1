#!/usr/bin/env python3
"""Check the dashboard's and the alerts' PromQL against a live Prometheus (stdlib only).

Used by tests/deploy/prometheus.sh once its Prometheus has scraped a tokenmint under load:

  python3 tests/deploy/promql_check.py --prometheus http://127.0.0.1:PORT \
      --dashboard config/grafana/dashboards/tokenmint.json --alerts config/prometheus/alerts.yml \
      --instance 127.0.0.1:ADMINPORT

1. tokenmint moved: up{job="tokenmint"} == 1 and sum(tokenmint_token_requests_total) > 0.
2. Every template variable's label_values(...) query returns values (through /api/v1/label).
3. Every expression of every panel target (rows' nested panels included), with the
   variables substituted ($instance by the real instance, $client_id by .*, $__rate_interval
   by 1m, $__range by 5m, ...), returns a non-empty result with at least one finite value.
4. Every alerting rule Prometheus loaded from alerts.yml (read back through /api/v1/rules, so
   no YAML parser is needed; their number is compared with the `- alert:` lines of the file)
   evaluates with status success (an empty result is fine) and its rule health is not "err".

Prints one line per expression, OK or FAIL; exits 1 on any failure.
"""
import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

FAILURES = []


def api(base, path, params=None, method="GET"):
    """GET (/api/v1/label and /api/v1/rules take nothing else in Prometheus 2.42) or POST."""
    data = urllib.parse.urlencode(params or {}, doseq=True)
    if method == "GET":
        req = urllib.request.Request(base + path + ("?" + data if data else ""))
    else:
        req = urllib.request.Request(base + path, data=data.encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:  # Prometheus answers 400/422 with a JSON error body
        try:
            return json.load(e)
        except ValueError:
            return {"status": "error", "error": f"HTTP {e.code}"}
    except (urllib.error.URLError, OSError) as e:
        return {"status": "error", "error": str(e)}


def query(base, expr):
    return api(base, "/api/v1/query", {"query": expr, "time": f"{time.time():.3f}"}, method="POST")


def one_line(expr):
    return " ".join(expr.split())


def report(ok, what, expr, detail):
    print(f"{'OK  ' if ok else 'FAIL'} {what}: {one_line(expr)}  -> {detail}")
    if not ok:
        FAILURES.append(what)


def values_of(result):
    data = result.get("data", {})
    kind, res = data.get("resultType"), data.get("result")
    if kind == "vector":
        return [(s.get("metric", {}), s["value"][1]) for s in res]
    if kind == "matrix":
        return [(s.get("metric", {}), s["values"][-1][1]) for s in res if s.get("values")]
    if kind in ("scalar", "string"):
        return [({}, res[1])]
    return []


def finite(v):
    try:
        return math.isfinite(float(v))
    except ValueError:
        return False


def short(series, limit=4):
    parts = []
    for metric, v in series[:limit]:
        name = ",".join(f"{k}={metric[k]}" for k in sorted(metric) if k not in ("__name__", "job"))
        try:
            v = f"{float(v):.4g}"
        except ValueError:
            pass
        parts.append(f"{name or 'value'}={v}")
    more = f", +{len(series) - limit}" if len(series) > limit else ""
    return "[" + "; ".join(parts) + more + "]"


def substitute(expr, variables):
    # ${name}, ${name:fmt}, [[name]] and $name, longest names first ($__range_s before $__range)
    def braced(m):
        return variables.get(m.group(1), m.group(0))
    expr = re.sub(r"\$\{(\w+)(?::\w+)?\}", braced, expr)
    expr = re.sub(r"\[\[(\w+)\]\]", braced, expr)
    for name in sorted(variables, key=len, reverse=True):
        expr = re.sub(r"\$" + re.escape(name) + r"(?!\w)", lambda _m, v=variables[name]: v, expr)
    return expr


def panels_of(dashboard):
    for p in dashboard.get("panels", []):
        yield p
        for sub in p.get("panels", []) or []:  # collapsed rows keep their panels inside
            yield sub


def check_moved(base):
    r = query(base, 'up{job="tokenmint"}')
    vals = values_of(r) if r.get("status") == "success" else []
    report(bool(vals) and all(float(v) == 1 for _, v in vals), "target up", 'up{job="tokenmint"}',
           short(vals) if vals else r.get("error", "empty"))
    r = query(base, "sum(tokenmint_token_requests_total)")
    vals = values_of(r) if r.get("status") == "success" else []
    report(bool(vals) and float(vals[0][1]) > 0, "requests counted", "sum(tokenmint_token_requests_total)",
           short(vals) if vals else r.get("error", "empty"))


def check_variables(base, dashboard, variables):
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or var.get("definition", ""))
        m = re.fullmatch(r"\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*", q)
        if not m:
            report(False, f"variable ${var['name']}", q, "not a label_values(...) query")
            continue
        selector, label = m.group(1), m.group(2)
        params = {"match[]": [substitute(selector, variables)]} if selector else {}
        r = api(base, f"/api/v1/label/{label}/values", params)
        vals = r.get("data") or []
        report(r.get("status") == "success" and bool(vals), f"variable ${var['name']}", q,
               (", ".join(vals[:6]) if vals else r.get("error", "no values")))


def check_panels(base, dashboard, variables):
    n = 0
    for p in panels_of(dashboard):
        for t in p.get("targets", []) or []:
            expr = t.get("expr")
            if not expr:
                continue
            n += 1
            what = f"panel \"{p.get('title')}\" {t.get('refId', '')}".rstrip()
            concrete = substitute(expr, variables)
            if "$" in concrete:
                report(False, what, concrete, "unsubstituted variable")
                continue
            r = query(base, concrete)
            if r.get("status") != "success":
                report(False, what, concrete, f"{r.get('errorType', '')} {r.get('error', '')}".strip())
                continue
            vals = values_of(r)
            if not vals:
                report(False, what, concrete, "empty result")
            elif not any(finite(v) for _, v in vals):
                report(False, what, concrete, f"no finite value {short(vals)}")
            else:
                report(True, what, concrete, f"{len(vals)} series {short(vals)}")
    if n == 0:
        report(False, "dashboard", "-", "no panel expression found")


def check_alerts(base, alerts_path):
    expected = sum(1 for line in open(alerts_path) if re.match(r"\s*-\s*alert:\s*\S", line))
    rules = []
    deadline = time.time() + 15
    while True:
        r = api(base, "/api/v1/rules", {"type": "alert"})
        groups = r.get("data", {}).get("groups", []) if r.get("status") == "success" else []
        rules = [rule for g in groups for rule in g.get("rules", []) if rule.get("type") == "alerting"]
        evaluated = [rule for rule in rules if rule.get("health") in ("ok", "err")]
        if (len(rules) >= expected and len(evaluated) == len(rules)) or time.time() > deadline:
            break
        time.sleep(0.5)
    report(len(rules) == expected, "alert rules loaded", alerts_path,
           f"{len(rules)} loaded by Prometheus, {expected} `- alert:` in the file")
    for rule in rules:
        what = f"alert {rule['name']}"
        if rule.get("health") == "err":
            report(False, what, rule["query"], f"rule health err: {rule.get('lastError')}")
            continue
        r = query(base, rule["query"])
        if r.get("status") != "success":
            report(False, what, rule["query"], f"{r.get('errorType', '')} {r.get('error', '')}".strip())
            continue
        vals = values_of(r)
        state = rule.get("state", "?")
        report(True, what, rule["query"],
               f"success, {len(vals)} series{' ' + short(vals) if vals else ''}, rule {rule.get('health')}/{state}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    ap.add_argument("--dashboard", required=True)
    ap.add_argument("--alerts", required=True)
    ap.add_argument("--instance", default=".*", help="value for $instance (regex, matched with =~)")
    ap.add_argument("--client-id", default=".*", help="value for $client_id (regex, matched with =~)")
    ap.add_argument("--rate-interval", default="1m", help="value for $__rate_interval")
    ap.add_argument("--range", default="5m", help="value for $__range (must cover the load)")
    args = ap.parse_args()
    base = args.prometheus.rstrip("/")

    rng = args.range
    seconds = int(re.fullmatch(r"(\d+)([smh])", rng).group(1)) * {"s": 1, "m": 60, "h": 3600}[rng[-1]]
    variables = {
        "instance": args.instance, "client_id": args.client_id,
        "__rate_interval": args.rate_interval, "__interval": "15s", "__interval_ms": "15000",
        "__range": rng, "__range_s": str(seconds), "__range_ms": str(seconds * 1000),
    }
    with open(args.dashboard) as f:
        dashboard = json.load(f)

    check_moved(base)
    check_variables(base, dashboard, variables)
    check_panels(base, dashboard, variables)
    check_alerts(base, args.alerts)

    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed: {', '.join(FAILURES)}")
        return 1
    print("all PromQL checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
