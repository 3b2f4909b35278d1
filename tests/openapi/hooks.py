"""Schemathesis hooks for tests/openapi/run.sh (loaded through SCHEMATHESIS_HOOKS).

`not_a_server_error` refuses every 5xx, but docs/openapi.yaml documents one:
503 `temporarily_unavailable` with `Retry-After` (too many slow secret checks
or too many requests in flight), and `/readyz` answers 503 `draining` after
SIGTERM. run.sh lets 503 through `not_a_server_error` (schemathesis.toml) and
this check holds every 5xx to exactly those documented forms.
"""

import json

import schemathesis


def _header(response, name):
    values = response.headers.get(name.lower()) or []
    return values[0] if values else None


@schemathesis.check
def only_documented_server_errors(ctx, response, case):
    """Any 5xx is the documented 503 `temporarily_unavailable` with Retry-After."""
    status = response.status_code
    if status < 500:
        return None
    where = f"{case.method} {case.path} -> {status}"
    if status != 503:
        raise AssertionError(f"{where}: an undocumented server error")
    # `/readyz` while draining (not expected in this run, but documented).
    body = None
    if response.content:
        try:
            body = json.loads(response.content)
        except ValueError:
            raise AssertionError(f"{where}: the body is not JSON: {response.content[:200]!r}") from None
    if case.path == "/readyz" and body == {"status": "draining"}:
        return None
    retry_after = _header(response, "Retry-After")
    if retry_after is None or not retry_after.isdigit():
        raise AssertionError(f"{where}: 503 without a delay-seconds Retry-After (got {retry_after!r})")
    # HEAD answers, and HTTP/2 load-shedding answers, carry no body.
    if body is None:
        return None
    if not isinstance(body, dict) or body.get("error") != "temporarily_unavailable":
        raise AssertionError(f"{where}: 503 whose error is not temporarily_unavailable: {body!r}")
    return None
