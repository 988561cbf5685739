"""Is a helpdesk webhook genuine, and which ticket does it name?

Zendesk (developer.zendesk.com/documentation/webhooks/verifying/): every request carries
`X-Zendesk-Webhook-Signature`, base64(HMAC-SHA256(signing secret, TIMESTAMP + BODY)), and
`X-Zendesk-Webhook-Signature-Timestamp`, an ISO 8601 UTC time ("2021-03-25T05:09:27Z",
.../webhooks/anatomy-of-a-webhook-request). The signature is compared in constant time and the
timestamp must lie within `REPLAY_WINDOW` of our clock, so a captured request cannot be replayed
later; a copy replayed within the window changes nothing, because the ticket is already recorded.

Freshdesk automation webhooks are not signed (support.freshdesk.com, "Using webhooks in automation
rules"); the rule's "Trigger webhook" action sends custom headers, so the admin adds
`X-Deskbot-Webhook-Secret: <secret>`, compared here in constant time.

Payloads: the admin writes them; deskbot reads `{"ticket_id": …}`, and also the shapes the helpdesks
send by themselves: a Zendesk event webhook (`{"type": "zen:event-type:ticket.created", "detail":
{"id": …}}`) and Freshdesk's simple payload (`{"freshdesk_webhook": {"ticket_id": …}}`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.exceptions import HTTPException

REPLAY_WINDOW = timedelta(minutes=5)
ZENDESK_SIGNATURE = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"
FRESHDESK_SECRET = "X-Deskbot-Webhook-Secret"
TICKET_ID = r"^0*[1-9][0-9]{0,17}$"  # a ticket id as a string: ASCII digits, 1 to 10**18 - 1
MAX_TICKET_ID = 10**18 - 1


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), as Zendesk signs."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_zendesk(secret: str, headers: Mapping[str, str], body: bytes, *, now: datetime) -> None:
    """401 unless the signature is Zendesk's over this body and its timestamp is within the window."""
    signature, stamp = headers.get(ZENDESK_SIGNATURE, ""), headers.get(ZENDESK_TIMESTAMP, "")
    if not signature or not stamp:
        raise _refused(ZENDESK_SIGNATURE, f"a Zendesk webhook carries {ZENDESK_SIGNATURE} and {ZENDESK_TIMESTAMP}")
    if not hmac.compare_digest(zendesk_signature(secret, stamp, body).encode("utf-8", "surrogateescape"),
                               signature.encode("utf-8", "surrogateescape")):
        raise _refused(ZENDESK_SIGNATURE, "the webhook signature does not match (check webhook_secret_env: the "
                       "signing secret of this webhook)")
    try:
        signed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        signed = signed if signed.tzinfo else signed.replace(tzinfo=timezone.utc)
        late = abs(now - signed) > REPLAY_WINDOW
    except (ValueError, OverflowError):
        raise _refused(ZENDESK_SIGNATURE, f"{ZENDESK_TIMESTAMP} is not an ISO 8601 time") from None
    if late:
        raise _refused(ZENDESK_SIGNATURE, f"the webhook was signed more than {REPLAY_WINDOW.seconds // 60} minutes "
                       "from now: a replay, or a clock that is off")


def verify_freshdesk(secret: str, headers: Mapping[str, str]) -> None:
    """401 unless the shared secret header holds the configured secret."""
    given = headers.get(FRESHDESK_SECRET, "")
    expected = hashlib.sha256(secret.encode()).digest()
    if not given or not hmac.compare_digest(hashlib.sha256(given.encode("utf-8", "surrogateescape")).digest(), expected):
        raise _refused(FRESHDESK_SECRET, f"the {FRESHDESK_SECRET} header is missing or does not match webhook_secret_env")


def _refused(scheme: str, detail: str) -> HTTPException:
    """401 naming the helpdesk's proof as its challenge (RFC 9110 11.6.1: a 401 always carries one)."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": f'{scheme} realm="deskbot"'})


def ticket_id_of(body: bytes) -> int:
    """The ticket a webhook names; 400 or 422 that says which payload to send."""
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise HTTPException(400, "the webhook body is not JSON") from None
    candidates = []
    if isinstance(data, dict):
        nested = [data.get(k) for k in ("detail", "freshdesk_webhook", "ticket")]
        candidates = [data.get("ticket_id"),
                      *(n.get(k) for n in nested if isinstance(n, dict) for k in ("ticket_id", "id"))]
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_TICKET_ID:
            return value
        if isinstance(value, str) and re.fullmatch(TICKET_ID, value):
            return int(value)
    raise HTTPException(422, 'the webhook names no ticket: send {"ticket_id": "{{ticket.id}}"}')
