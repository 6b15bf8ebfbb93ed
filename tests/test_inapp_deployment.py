"""The widget's apps in the deployment file: read, checked, and served by ``cxcore serve``'s app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from cxcore.collector.cli import build_app
from cxcore.deployment import DeploymentError, loads_deployment

KEYS = "deployment-test-key-0123456789abcdefghij"
FILE = """
[store]
sqlite = "cx.db"
[collector]
public_url = "https://cx.bazaar.example.in/r"
rules = "rules.toml"
[channels.inapp]
[apps.bazaar-web]
key = "pk_live_bazaar_web_0123456789"
origins = ["https://www.bazaar.example.in", "http://localhost:5173"]
name = "Bazaar web"
user_secret_env = "BAZAAR_USER_SECRET"
[apps.bazaar-web.touchpoints]
"chat.closed" = "chat_closed"
"""
RULES = """
[[rules]]
id = "chat"
touchpoint = "chat_closed"
survey = "after_support"
"""


def test_apps_are_read_with_their_secret_from_the_environment() -> None:
    """An app's key and origins come from the file; its user secret from the environment."""
    deployment = loads_deployment(FILE, folder="/srv/cx")
    (settings,) = deployment.apps.values()
    assert settings.origins == ("https://www.bazaar.example.in", "http://localhost:5173")
    (app,) = deployment.widget_apps(environ={"BAZAAR_USER_SECRET": "s" * 40})
    assert (app.id, app.key, app.touchpoint("chat.closed")) == (
        "bazaar-web",
        "pk_live_bazaar_web_0123456789",
        "chat_closed",
    )
    assert app.user_secret == b"s" * 40
    with pytest.raises(DeploymentError, match="BAZAAR_USER_SECRET is not set"):
        deployment.widget_apps(environ={})


def test_the_check_names_an_unset_user_secret_with_the_other_problems(tmp_path: Path) -> None:
    """``cxcore config check`` (and ``cxcore serve`` before it builds anything) lists it too."""
    (tmp_path / "rules.toml").write_text(RULES, encoding="utf-8")
    deployment = loads_deployment(FILE, folder=tmp_path)
    found = [str(p) for p in deployment.check(environ={})]
    assert [p.split(":")[0] for p in found] == [
        "tokens.keys_env",
        "apps.bazaar-web.user_secret_env",
    ]
    assert found[1].endswith(
        "the environment variable BAZAAR_USER_SECRET is not set "
        "(expected the secret the app's backend signs user tokens with)"
    )
    environ = {"CXCORE_TOKEN_KEYS": KEYS, "BAZAAR_USER_SECRET": "s" * 40}
    assert deployment.check(environ=environ) == []


def test_every_problem_of_an_app_is_named() -> None:
    """A bad key, a bad origin, an unknown setting and a repeated key: each with its place."""
    bad = """
[store]
sqlite = "cx.db"
[collector]
public_url = "https://cx.example.in"
[apps.one]
key = "sk_secret"
origins = ["https://shop.example.in/", "shop.example.in"]
colour = "blue"
[apps.two]
key = "pk_live_two_0123456789abcdef"
origins = ["https://two.example.in"]
[apps.three]
key = "pk_live_two_0123456789abcdef"
origins = ["https://three.example.in"]
"""
    with pytest.raises(DeploymentError) as caught:
        loads_deployment(bad)
    paths = [p.path for p in caught.value.problems]
    assert paths == [
        "apps.one.colour",
        "apps.one.key",
        "apps.one.origins[0]",
        "apps.one.origins[1]",
        "apps.three.key",
    ]


def test_the_served_app_has_the_widget(tmp_path: Path) -> None:
    """``cxcore serve``'s app serves the script and the app's CORS preflight."""
    (tmp_path / "rules.toml").write_text(RULES, encoding="utf-8")
    deployment = loads_deployment(FILE, folder=tmp_path)
    environ = {"CXCORE_TOKEN_KEYS": KEYS, "BAZAAR_USER_SECRET": "s" * 40}
    app = build_app(deployment, dispatch=False, environ=environ)

    async def ask() -> tuple[httpx.Response, httpx.Response]:
        # No lifespan: these two routes need no store.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="https://cx.bazaar.example.in"
        ) as client:
            script = await client.get("/r/w/cx-widget.js")
            preflight = await client.options(
                "/r/w/v1/eligibility",
                headers={
                    "Origin": "http://localhost:5173",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type, x-cx-app-key",
                },
            )
            return script, preflight

    script, preflight = asyncio.run(ask())
    assert script.status_code == 307
    assert script.headers["location"].startswith("/r/w/cx-widget.")
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
