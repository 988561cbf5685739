"""Schemathesis against the app in this process (ASGI transport, no network): every operation of
/openapi.json, every check (status codes, content types, response schemas and headers, positive data
accepted, negative data refused, auth not ignored, unsupported methods, stateful links from
POST /v1/tickets to GET /v1/tickets/{ident}), with a fixed seed and example budget so a run is
repeatable. The routes and their OpenAPI document cannot drift apart without this test failing."""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema


def _import_all(package: object) -> None:
    """Import every module of `package` now, while the tests are collected. schemathesis is a pytest plugin, so
    pytest rewrites its modules as they are imported, and it imports most of them lazily; CPython 3.11's
    compiler can then fail (SystemError: AST constructor recursion depth mismatch) when another thread changes
    the recursion limit meanwhile, as Hypothesis does. Imported here, nothing is compiled during the test."""
    for found in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):  # type: ignore[attr-defined]
        try:
            importlib.import_module(found.name)
        except ImportError:  # an optional extra that is not installed (allure)
            continue


_import_all(schemathesis)
_import_all(importlib.import_module("hypothesis.internal"))  # its engine's and strategies' lazy imports, likewise
_import_all(importlib.import_module("hypothesis.strategies._internal"))

from tests.api_world import bearer
from tests.test_api_webhooks import World

SEED = 17
EXAMPLES = 25  # per operation and phase: about 1,500 requests, 15-25 s on a busy two-core machine
# 413 is the transport's answer to a body over max_body_bytes, which no JSON Schema keyword can say:
# it is documented on every route, and a fuzzer's huge body may meet it whatever else is in the body.
WITH_413 = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]
REFUSED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]


def run_schemathesis(world: World) -> tuple[list[str], Counter[tuple[str, int]]]:
    """Every phase and check against the app; the distinct failures and the statuses each operation got."""
    config = SchemathesisConfig.from_dict({
        "seed": SEED, "headers": bearer("fuzzer"),
        "generation": {"max-examples": EXAMPLES, "database": "none"},
        "checks": {"positive_data_acceptance": {"expected-statuses": WITH_413},
                   "negative_data_rejection": {"expected-statuses": REFUSED}},
        # Zendesk's webhook is fuzzed at the configured source, to reach its signature check (401);
        # Freshdesk's with any name (404).
        "operations": [{"include-path": "/v1/webhooks/zendesk/{name}", "parameters": {"name": "acme"}}],
    })
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.client.app, config=config)
    failures: dict[tuple[str, str, str], str] = {}
    statuses: Counter[tuple[str, int]] = Counter()
    for event in from_schema(schema).execute():
        if isinstance(event, (events.NonFatalError, events.FatalError)):
            failures[("engine", type(event).__name__, "")] = str(getattr(event, "value", event))
        if not isinstance(event, events.ScenarioFinished):
            continue
        for interaction in event.recorder.interactions.values():
            if interaction.response is not None:
                statuses[(event.recorder.label, interaction.response.status_code)] += 1
        for checks in event.recorder.checks.values():
            for check in checks:
                if check.failure_info is not None:
                    failure = check.failure_info.failure
                    failures.setdefault((str(failure.operation), check.name, failure.title),
                                        f"{failure.message}\n{check.failure_info.code_sample}")
    return [f"{' | '.join(key)}\n{text}" for key, text in failures.items()], statuses


@pytest.fixture
def world(tmp_path: Path, model_cache: Path) -> World:
    return World(tmp_path, model_cache)


def test_the_openapi_document_says_exactly_what_the_server_does(world: World) -> None:
    failures, statuses = run_schemathesis(world)
    assert not failures, "\n\n".join(failures)
    answered = {(label, status // 100) for label, status in statuses}
    for operation in ("POST /v1/predict", "POST /v1/predict/batch", "POST /v1/tickets"):  # served and refused
        assert {(operation, 2), (operation, 4)} <= answered, operation
    assert ("GET /healthz", 2) in answered and ("HEAD /healthz", 2) in answered
    assert ("GET /v1/tickets/{ident}", 404) in statuses  # the run reached past auth on every route
    assert ("POST /v1/webhooks/freshdesk/{name}", 404) in statuses and ("POST /v1/predict", 401) in statuses
    assert ("POST /v1/webhooks/zendesk/{name}", 401) in statuses
