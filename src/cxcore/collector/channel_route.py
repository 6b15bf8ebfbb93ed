"""The one generic route per channel: ``/c/<channel>/...``.

The route turns the HTTP request into an :class:`~cxcore.InboundRequest`
whose URL is built from the configured public URL (never from the request's
``Host`` or proxy headers: providers sign the URL they were given), hands it to
the channel's ``parse_inbound``, gives the events to
:class:`~cxcore.intake.Intake`, and answers: in the channel's own format if it
implements :class:`~cxcore.intake.InboundResponder`, else JSON. So a channel,
ours or a third party's, gets webhooks, replies and form posts without any web
code of its own.

Requests count against their address's rate limit, except on a channel whose
class sets ``signed_inbound = True``, whose ``parse_inbound`` authenticates
every request (a provider's signature): there only the requests it refuses
(:class:`~cxcore.InboundAuthError`) count, so a provider's burst of webhooks,
from few addresses, is never throttled, while guessing signatures is.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from cxcore.collector._http import error_json, read_body, results_response, wants_html
from cxcore.collector.context import Context
from cxcore.errors import InboundAuthError, InboundError
from cxcore.intake import Accepted, InboundResponder
from cxcore.ports.channel import AnswersReceived, InboundRequest

__all__ = ["ChannelRoute"]

log = logging.getLogger("cxcore.collector")


class ChannelRoute:
    """Any method on ``/c/<channel>`` and ``/c/<channel>/<path>``."""

    def __init__(self, context: Context) -> None:
        self.context = context

    async def __call__(self, request: Request) -> Response:
        """Answer one request."""
        context = self.context
        name = request.path_params["channel"]
        channel = context.channels.get(name)
        if channel is None:
            known = ", ".join(sorted(context.channels)) or "none"
            return error_json(
                404, "unknown_channel", f"no channel {name!r} is configured (configured: {known})"
            )
        # A channel that authenticates every request (a provider's signature)
        # has only its refusals counted against the address, as API keys do:
        # a provider's burst of webhooks comes from few addresses.
        signed = getattr(channel, "signed_inbound", False) is True
        if not signed:
            limited = context.limited(request, "../../static")
            if limited is not None:
                return limited
        body = await read_body(request, context.max_body_bytes)
        rest = request.path_params.get("rest", "")
        url = f"{context.public_url}/c/{quote(name, safe='')}" + (f"/{rest}" if rest else "")
        if request.url.query:
            url += f"?{request.url.query}"
        inbound = InboundRequest(
            method=request.method, url=url, headers=dict(request.headers), body=body
        )
        try:
            events = channel.parse_inbound(inbound)
        except InboundAuthError as exc:
            limited = context.limited(request, "../../static") if signed else None
            return limited or error_json(403, "forbidden", f"channel {name!r}: {exc}")
        except InboundError as exc:
            return error_json(400, "bad_request", f"channel {name!r}: {exc}")
        except Exception:
            # A plugin's bug: the request is not understood, the collector stays up.
            log.exception("channel %r failed to parse %r", name, inbound)
            return error_json(400, "bad_request", f"channel {name!r} could not read the request")
        results = await context.intake.receive(
            name, list(events), key=request.headers.get("idempotency-key")
        )
        if isinstance(channel, InboundResponder):
            reply = channel.inbound_reply(inbound, results)
            if reply is not None:
                return Response(
                    reply.body,
                    status_code=reply.status,
                    media_type=reply.media_type,
                    headers=dict(reply.headers),
                )
        if wants_html(request) and request.method == "GET":
            token = next(
                (
                    e.token
                    for e, r in zip(events, results, strict=False)
                    if isinstance(e, AnswersReceived) and e.token and isinstance(r, Accepted)
                ),
                None,
            )
            if token is not None:  # a link a person clicked: show them the survey page
                return RedirectResponse(
                    f"{context.public_url}/s/{quote(token, safe='')}", status_code=303
                )
        return results_response(results)
