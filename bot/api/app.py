"""The HTTP API: thin routes over the same pipeline and store as the daemon; no logic of its own.

FastAPI (OpenAPI docs at /docs). Every route but /healthz needs a bearer token with the route's
scope (`Allow`), which bot/api/checkpoint.py checks with the budget, size and media type before the
body is read; every refusal is an RFC 9457 problem (bot/api/problems.py), and each route documents
all of its answers (bot/api/contract.py); the work is done by bot/api/backend.py through
`pipeline.handle_item`, the unit every entry point shares.
Blocking routes are plain `def`: FastAPI runs them in its thread pool, off the event loop.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from bot.api.auth import Client, Gate
from bot.api.backend import Backend
from bot.api.checkpoint import Allow, Checkpoint
from bot.api.contract import FRESHDESK_EXTRA, GATED, LOCATION, ZENDESK_EXTRA, documented, refusals
from bot.api.models import (
    SOURCE_NAME,
    TICKET_IDENT,
    BatchIn,
    BatchOut,
    DecisionOut,
    PredictionOut,
    TextIn,
    TicketIn,
    WebhookOut,
    decision_out,
    prediction_out,
)
from bot.api.problems import PROBLEM_JSON, Guard, deskbot_problem, http_problem, validation_problem
from bot.api.queue import PredictionQueue
from bot.api.webhooks import ticket_id_of, verify_freshdesk, verify_zendesk
from bot.config.file import ApiConfig
from bot.errors import DeskbotError
from bot.log.history import as_json
from bot.ops.health import RETRY_SECONDS, Health

router = APIRouter()
NO_TICKET = "no ticket with this id or reference was posted with this token"
Ident = Annotated[str, Path(description="an id (42) or a reference (SUP-000042)",
                            json_schema_extra={"pattern": TICKET_IDENT})]
Name = Annotated[str, Path(description="the name of the helpdesk's table in deskbot.toml",
                           json_schema_extra={"pattern": SOURCE_NAME})]


async def backend_of(request: Request) -> Backend:  # async: a sync dependency would cost a thread hop
    """The Backend this app serves."""
    return request.app.state.backend  # type: ignore[no-any-return]


@router.post("/v1/predict", response_model=PredictionOut, responses=refusals(*GATED), tags=["predict"])
async def predict(ticket: TextIn, request: Request, client: Client = Depends(Allow("predict"))) -> PredictionOut:
    """Department, priority and why, for one ticket text (`deskbot classify --json`)."""
    queue: PredictionQueue = request.app.state.predictions  # concurrent requests share model calls
    return prediction_out(await queue.predict(ticket.subject, ticket.body))


@router.post("/v1/predict/batch", response_model=BatchOut, responses=refusals(*GATED), tags=["predict"])
def predict_batch(batch: BatchIn, client: Client = Depends(Allow("predict")),
                  backend: Backend = Depends(backend_of)) -> BatchOut:
    """Up to 1,000 ticket texts in one model call; predictions in the same order."""
    found = backend.predict_many([(t.subject, t.body) for t in batch.tickets])
    return BatchOut(predictions=[prediction_out(p) for p in found])


@router.post("/v1/tickets", response_model=DecisionOut, status_code=201, tags=["tickets"], responses={
    201: {"description": "triaged and recorded now", "headers": LOCATION},
    200: {"description": "this external_id was posted before: its first decision, nothing sent again",
          "model": DecisionOut, "headers": LOCATION},
    **refusals(*GATED, 503)})
def post_ticket(ticket: TicketIn, response: Response, client: Client = Depends(Allow("tickets")),
                backend: Backend = Depends(backend_of)) -> DecisionOut:
    """Triage, record and (when the rules say so) acknowledge a ticket by mail; 200 with the first
    decision when this external_id was posted before (nothing is sent twice)."""
    row, created = backend.submit(client.name, ticket.model_dump())
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/tickets/{row.id}"
    return decision_out(row, backend.actions(row))


@router.get("/v1/tickets/{ident}", tags=["tickets"], responses=refusals(
    400, 401, 403, 404, 429, 500, why={400: "two Authorization headers", 404: NO_TICKET}))
def get_ticket(ident: Ident, client: Client = Depends(Allow("tickets")),
               backend: Backend = Depends(backend_of)) -> dict[str, object]:
    """A ticket this token posted, by id or reference (SUP-000042): its decision, actions and their states."""
    found = backend.find(client.name, ident) if re.fullmatch(TICKET_IDENT, ident) else None
    if found is None:
        raise HTTPException(404, NO_TICKET)
    return as_json(*found)


WEBHOOK_REFUSALS = refusals(*GATED, 404, 502, 503, why={
    401: "no bearer token or not a valid one, or the helpdesk's signature or secret does not match",
    404: "no such source takes webhooks, or the helpdesk has no such ticket"})


@router.post("/v1/webhooks/zendesk/{name}", response_model=WebhookOut, responses=WEBHOOK_REFUSALS,
             tags=["webhooks"], openapi_extra=ZENDESK_EXTRA)
async def zendesk_webhook(name: Name, request: Request, client: Client = Depends(Allow("webhooks")),
                          backend: Backend = Depends(backend_of)) -> WebhookOut:
    """A Zendesk webhook (ticket created), verified by its signature; the ticket is triaged at once."""
    source, body = _webhook_source(backend, "zendesk", name), await request.body()
    verify_zendesk(backend.secrets[source], request.headers, body, now=backend.triage.store.now())
    return await run_in_threadpool(_pushed, backend, source, ticket_id_of(body))


@router.post("/v1/webhooks/freshdesk/{name}", response_model=WebhookOut, responses=WEBHOOK_REFUSALS,
             tags=["webhooks"], openapi_extra=FRESHDESK_EXTRA)
async def freshdesk_webhook(name: Name, request: Request, client: Client = Depends(Allow("webhooks")),
                            backend: Backend = Depends(backend_of)) -> WebhookOut:
    """A Freshdesk automation webhook, authenticated by its secret header; the ticket is triaged at once."""
    source = _webhook_source(backend, "freshdesk", name)
    verify_freshdesk(backend.secrets[source], request.headers)
    return await run_in_threadpool(_pushed, backend, source, ticket_id_of(await request.body()))


def _webhook_source(backend: Backend, kind: str, name: str) -> str:
    source = f"{kind}:{name}"
    if not re.fullmatch(SOURCE_NAME, name) or source not in backend.desks:
        raise HTTPException(404, f"no [[{kind}]] table of that name in the config")
    if not backend.secrets.get(source):
        raise HTTPException(404, f"{source} takes no webhooks: set webhook_secret_env in its table")
    return source


def _pushed(backend: Backend, source: str, ticket_id: int) -> WebhookOut:
    outcome, row = backend.push(source, ticket_id)
    if outcome is None:
        return WebhookOut(source=source, ticket=ticket_id, status="ignored")
    return WebhookOut(source=source, ticket=ticket_id, status=outcome.status, id=outcome.ticket_id,
                      reference=row.reference if row else None)


@router.get("/report", response_class=HTMLResponse, tags=["report"], responses=refusals(
    *GATED, 422, why={422: "`since` is not a period (48h, 30d, 12w) or a date"}))
def report(since: str = "30d", client: Client = Depends(Allow("report")),
           backend: Backend = Depends(backend_of)) -> HTMLResponse:
    """The HTML report of `deskbot report` (since: 48h, 30d, 12w or a date; default 30d)."""
    from bot.learning.period import parse_since
    from bot.report.document import build_report

    store = backend.triage.store
    try:
        start = parse_since(since, store.now(), option="since")
    except DeskbotError:
        raise HTTPException(422, "since must be a period such as 48h, 30d or 12w, or a date") from None
    return HTMLResponse(build_report(store, since=start))


HEALTH_REFUSALS = refusals(500, 503, why={500: "the decision log does not answer", 503: "a source has not "
                           "polled successfully for unhealthy_after: `stale` names each, with its last good poll"})


@router.get("/healthz", tags=["health"], responses=HEALTH_REFUSALS)
def healthz(request: Request, backend: Backend = Depends(backend_of)) -> Any:
    """Up, the decision log answers, and every polled source polled successfully within unhealthy_after
    (no token needed; an unhealthy answer names only the stale sources)."""
    with backend.triage.store.session() as session:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    health: Health | None = request.app.state.health
    status, body = health.answer() if health is not None else (200, {"status": "ok"})
    if status != 200:
        return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON,
                            headers={"Retry-After": str(RETRY_SECONDS)})
    return body


@router.head("/healthz", tags=["health"], responses=HEALTH_REFUSALS)
def healthz_head(request: Request, backend: Backend = Depends(backend_of)) -> Any:
    """As GET /healthz, headers only (for load balancers that probe with HEAD)."""
    return healthz(request, backend)


def build_app(backend: Backend, api: ApiConfig, *, health: Health | None = None) -> FastAPI:
    """The ASGI app for one config's [api] table; /healthz checks the sources' polls with `health`."""
    app = FastAPI(title="deskbot", summary="Support-ticket triage: predict, receive and route, helpdesk webhooks",
                  version="1", docs_url="/docs", redoc_url=None)
    app.state.gate, app.state.backend, app.state.health = Gate(api.tokens), backend, health
    app.state.predictions = PredictionQueue(backend.predict_many)
    app.add_exception_handler(HTTPException, http_problem)
    app.add_exception_handler(RequestValidationError, validation_problem)
    app.add_exception_handler(DeskbotError, deskbot_problem)
    app.add_middleware(Checkpoint, gate=app.state.gate, routes=router.routes, max_body_bytes=api.max_body_bytes)
    app.add_middleware(Guard, max_body_bytes=api.max_body_bytes)  # outermost: it also catches the Checkpoint's errors
    app.include_router(router)
    app.openapi = documented(app)  # type: ignore[method-assign]
    return app
