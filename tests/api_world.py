"""A config with [api], its app and a test client: what every HTTP API test starts from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bot.api.app import build_app
from bot.api.backend import Backend, build_backend
from bot.config.file import ApiConfig, ApiTokenConfig, Config, DatabaseConfig, PathsConfig, SmtpConfig
from bot.ops.loopback import SmtpSink
from bot.triage import Triage
from connectors.base import Source

FROM = "Example Support <support@example.com>"
TOKENS = {  # name -> (token, scopes)
    "webform": ("webform-token-0123456789", ["predict", "tickets"]),
    "crm": ("crm-token-0123456789abcd", ["tickets"]),
    "widget": ("widget-token-0123456789", ["predict"]),
    "helpdesk": ("helpdesk-token-012345678", ["webhooks"]),
    "fuzzer": ("fuzzer-token-0123456789ab", ["predict", "tickets", "webhooks"]),  # Schemathesis: every route
}


def bearer(name: str) -> dict[str, str]:
    """The Authorization header of one of TOKENS."""
    return {"Authorization": f"Bearer {TOKENS[name][0]}"}


def api_config(tmp_path: Path, model_cache: Path, *, sink: SmtpSink | None = None, per_minute: int = 600,
               max_body_bytes: int = 100_000, **tables: Any) -> Config:
    """A config with every token of TOKENS, an SMTP sink when given, and the source tables passed."""
    tokens = [ApiTokenConfig(name=name, token_env="T", token=token, scopes=scopes, requests_per_minute=per_minute)
              for name, (token, scopes) in TOKENS.items()]
    smtp = SmtpConfig(host=sink.host, port=sink.port, security="none", timeout=5, **{"from": FROM}) if sink else None
    return Config(database=DatabaseConfig(url=f"sqlite:///{tmp_path / 'log.sqlite3'}"), smtp=smtp,
                  paths=PathsConfig(cache=str(model_cache)), base_dir=str(tmp_path),
                  api=ApiConfig(tokens=tokens, max_body_bytes=max_body_bytes), **tables)


def test_client(config: Config, triage: Triage, sources: Sequence[Source] = ()) -> tuple[TestClient, Backend]:
    """The app of `config` behind Starlette's test client, and the backend it works through."""
    assert config.api is not None
    backend = build_backend(config, triage, sources)
    return TestClient(build_app(backend, config.api)), backend


test_client.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test
