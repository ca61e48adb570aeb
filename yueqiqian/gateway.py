"""Signed JSON POSTs to the operator's own gateways (SMS, face verification).

Importable before Django's apps are ready: the providers that use it are imported by the
production settings.
"""

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request

_MAX_RESPONSE_BYTES = 64 * 1024


class GatewayUnreachable(Exception):
    """No HTTP answer from the gateway (refused, timed out, cut off)."""


_MAX_RESPONSE_BYTES = 64 * 1024


def signed_json_post(url: str, secret: str, payload: dict, timeout: float) -> tuple[int, bytes]:
    """POST `payload` as JSON to one of the operator's gateways, signed the way they expect:
    X-Timestamp (Unix seconds) and X-Signature = hex HMAC-SHA256(secret, timestamp + "\\n" +
    body). Returns the HTTP status and (up to 64 KiB of) the response body, whatever the
    status; raises GatewayUnreachable when there is no HTTP answer.
    """
    body = json.dumps(payload, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    signature = hmac.new(
        secret.encode(), timestamp.encode() + b"\n" + body, hashlib.sha256
    ).hexdigest()
    request = urllib.request.Request(  # noqa: S310 - the URL is our own configured gateway
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "X-Timestamp": timestamp,
            "X-Signature": signature,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read(_MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(_MAX_RESPONSE_BYTES)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        # URLError and TimeoutError are OSErrors; HTTPException covers a connection cut
        # off mid-answer (IncompleteRead, BadStatusLine).
        raise GatewayUnreachable(f"{url}: {exc}") from exc
