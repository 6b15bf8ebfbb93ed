"""Hypothesis against every collector endpoint: never a 5xx, and a refusal writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxcore.collector import RateLimits
from cxcore.distribution import load_rules
from cxcore.testing import FakeChannel
from tests.collector_support import Served, serve_collector

ROUTES = (
    ("GET", "/s/{token}"),
    ("POST", "/s/{token}"),
    ("GET", "/l/{token}"),
    ("GET", "/u/{token}"),
    ("POST", "/u/{token}"),
    ("POST", "/amp/{token}"),
    ("OPTIONS", "/amp/{token}"),
    ("POST", "/c/fake/{token}"),
    ("GET", "/c/fake"),
    ("PUT", "/c/{token}"),
    ("GET", "/agent"),
    ("POST", "/agent"),
    ("POST", "/staff/session"),
    ("POST", "/staff/sign-out"),
    ("POST", "/api/answers"),
    ("POST", "/api/agent-reports"),
    ("POST", "/api/interactions"),
    ("POST", "/api/interactions/batch"),
    ("GET", "/live"),
    ("GET", "/live/scores"),
    ("GET", "/readyz"),
)

text = st.text(max_size=40)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 20), st.floats(allow_nan=False), text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)
field_names = st.one_of(
    text,
    st.sampled_from(
        ["q.ltr", "q.sat", "q.issue[]", "q.why", "token", "complete", "shown", "stop", "address",
         "csrf", "nonce", "survey", "agent_id", "key", "next", "__amp_source_origin", "metric", "by"]
    ),
)  # fmt: skip
forms = st.dictionaries(field_names, st.lists(text, max_size=3), max_size=6)
api_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "survey": st.sampled_from(["store_exit", "after_support", "nope", ""]),
            "answers": st.dictionaries(
                st.sampled_from(["sat", "ltr", "note", "x"]), json_values, max_size=3
            ),
            "key": json_values,
            "token": json_values,
            "agent_id": json_values,
            "context": json_values,
            "complete": json_values,
            "version": json_values,
            "items": st.lists(json_values, max_size=3),
            "interaction": json_values,
            "customer": json_values,
        },
    ),
)
content_types = st.sampled_from(
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "application/json",
     "text/plain", "message/rfc822", "", "multipart/form-data"]
)  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    rules = load_rules(Path(__file__).parent.parent / "examples/retail/rules/bazaar.toml")
    with serve_collector(
        tmp_path_factory.mktemp("fuzz"),
        channels={"fake": FakeChannel(name="fake")},
        rules=rules,
        agent_surveys=("store_exit",),
        limits=RateLimits(per_address=None, per_key=None),
    ) as s:
        yield s


@st.composite
def requests(draw: st.DrawFn, tokens: list[str], key: str) -> dict[str, Any]:
    method, path = draw(st.sampled_from(ROUTES))
    token = draw(
        st.one_of(
            st.sampled_from(tokens),
            st.sampled_from(tokens).map(lambda t: t[:-1] + ("A" if t[-1] != "A" else "B")),
            text.filter(lambda t: t not in (".", "..") and "/" not in t),
        )
    )
    query = draw(st.dictionaries(field_names, text, max_size=4))
    headers: dict[str, str] = {"content-type": draw(content_types)}
    if draw(st.booleans()):
        headers["x-api-key"] = draw(st.one_of(st.just(key), header_text))
    if draw(st.booleans()):
        headers["amp-email-sender"] = draw(
            st.sampled_from(["surveys@bazaar.example.in", "x@y.z", "nope"])
        )
    if draw(st.booleans()):
        headers["origin"] = "https://mail.google.com"
    if draw(st.booleans()):
        headers["accept"] = "text/html"
    if draw(st.booleans()):
        headers["cookie"] = "cx_staff=" + draw(header_text)
    kind = draw(st.sampled_from(["form", "json", "bytes"]))
    if kind == "form":
        body = urlencode(draw(forms), doseq=True).encode()
    elif kind == "json":
        body = json.dumps(draw(api_bodies)).encode()
    else:
        body = draw(st.binary(max_size=300))
    return {
        "method": method,
        "url": path.replace("{token}", quote(token, safe=""))
        + ("?" + urlencode(query) if query else ""),
        "headers": headers,
        "content": body,
    }


def test_no_request_gets_a_server_error_and_refusals_write_nothing(served: Served) -> None:
    """Generated bodies, headers and query strings against every route: never a 5xx, nothing written on a 4xx."""
    tokens = []
    for _ in range(2):
        inv = served.invite(survey_id="store_exit", channel="fake")
        tokens += [inv.token, inv.unsubscribe_token or "", inv.amp_token or ""]
    key = served.key("answers", "agent", "interactions", "live")

    with httpx.Client(base_url=served.url, timeout=20) as client:

        @settings(
            max_examples=300,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(request=requests(tokens, key))
        def check(request: dict[str, Any]) -> None:
            before = served.counts()
            try:
                reply = client.request(**request)
            except (httpx.InvalidURL, httpx.LocalProtocolError):
                return  # httpx itself refuses to send it
            assert reply.status_code < 500, (request, reply.status_code, reply.text[:500])
            assert "Traceback" not in reply.text
            if reply.status_code >= 400:
                assert served.counts() == before, (request, reply.status_code, reply.text[:300])

        check()
