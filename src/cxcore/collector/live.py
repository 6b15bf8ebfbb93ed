"""Live scores over Server-Sent Events, driven by the feed.

One follower per collector reads the store's feed from now on
(:func:`cxcore.feed.follow`). Each stream names a survey, a metric and a
segmentation; when an answer to its survey arrives, the stream's scores are
counted again in the store (:meth:`~cxcore.Store.score`, the same numbers as
every batch report) at most every ``min_interval`` seconds however fast
answers come, and sent as one ``scores`` event. Streams of the same view share
one count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from cxcore.collector._http import error_json
from cxcore.collector.context import Context
from cxcore.collector.staff import StaffPages
from cxcore.collector.strings import words
from cxcore.errors import CxError, UnknownMetricError
from cxcore.feed import follow
from cxcore.metrics import get_metric
from cxcore.model.interaction import DIMENSIONS
from cxcore.ports.clock import Clock, SystemClock
from cxcore.ports.feed import FeedKind
from cxcore.ports.store import Store, UnknownSurveyError
from cxcore.scoring import Cell

__all__ = ["LiveRoutes", "LiveScores"]

log = logging.getLogger("cxcore.collector")

HEARTBEAT_SECONDS = 15.0
"""How often an idle stream sends a comment line, so proxies keep it open."""


def _cell(cell: Cell) -> dict[str, Any]:
    return {
        "key": list(cell.key),
        "n": cell.n,
        "score": cell.score,
        "low": cell.low,
        "high": cell.high,
        "low_n": cell.low_n,
    }


class LiveScores:
    """Score snapshots as answers arrive, from one follower of the store's feed.

    Args:
        store: The store (its feed, and its scores).
        min_interval: The shortest time between two snapshots of one view.
        wait: How long the follower waits for the feed before looking again.
        clock: Tells when a snapshot was made.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        store: Store,
        *,
        min_interval: float = 0.25,
        wait: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.min_interval = min_interval
        self.wait = wait
        self.clock: Clock = clock or SystemClock()
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._follower: asyncio.Task[None] | None = None
        self._counted: dict[tuple[str, str, tuple[str, ...]], tuple[int, dict[str, Any]]] = {}

    async def snapshot(self, survey_id: str, metric: str, by: Sequence[str]) -> dict[str, Any]:
        """The view's scores now, counted in the store.

        Streams of one view woken by the same answers share one count: a view
        is counted again only once the feed has moved since it was last counted.
        """
        view = (survey_id, metric, tuple(by))
        head = await self.store.feed_head()
        counted = self._counted.get(view)
        if counted is not None and counted[0] == head:
            return counted[1]
        cells = await self.store.score(metric, survey_id=survey_id, by=view[2])
        result = {
            "survey": survey_id,
            "metric": metric,
            "by": list(by),
            "at": self.clock.now().isoformat(),
            "cells": [_cell(c) for c in cells],
        }
        self._counted[view] = (head, result)
        return result

    async def stream(
        self, survey_id: str, metric: str, by: Sequence[str]
    ) -> AsyncIterator[dict[str, Any] | None]:
        """Yield the view's scores now, then after every change; ``None`` for a heartbeat."""
        changed = asyncio.Event()
        self._waiters.setdefault(survey_id, set()).add(changed)
        self._start()
        try:
            yield await self.snapshot(survey_id, metric, by)
            while True:
                try:
                    await asyncio.wait_for(changed.wait(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    yield None
                    continue
                await asyncio.sleep(self.min_interval)  # gather the answers of a burst
                changed.clear()
                yield await self.snapshot(survey_id, metric, by)
        finally:
            waiters = self._waiters.get(survey_id, set())
            waiters.discard(changed)
            if not waiters:
                self._waiters.pop(survey_id, None)
                for view in [v for v in self._counted if v[0] == survey_id]:
                    del self._counted[view]

    def _start(self) -> None:
        if self._follower is None or self._follower.done():
            self._follower = asyncio.get_running_loop().create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            try:
                async for event in follow(self.store, wait=self.wait):
                    if event.kind is FeedKind.ANSWER and event.survey_id is not None:
                        for changed in self._waiters.get(event.survey_id, ()):
                            changed.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store went away: try again shortly
                log.exception("live scores: reading the feed failed; retrying")
                await asyncio.sleep(self.wait)

    async def aclose(self) -> None:
        """Stop following the feed."""
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower


class LiveRoutes:
    """``GET /live`` (a page) and ``GET /live/scores`` (the event stream).

    Both need a staff session or an API key with the ``live`` scope.
    """

    def __init__(self, context: Context, live: LiveScores, staff: StaffPages) -> None:
        self.context = context
        self.live = live
        self.staff = staff

    async def _allowed(self, request: Request) -> Response | None:
        if await self.staff.staff_key(request, "live") is not None:
            return None
        key = await self.context.api_key(request, "live")
        return key if isinstance(key, Response) else None

    async def _view(self, request: Request) -> tuple[str, str, tuple[str, ...]] | Response:
        params = request.query_params
        survey, metric = params.get("survey", ""), params.get("metric", "")
        by = tuple(d.strip() for d in params.get("by", "").split(",") if d.strip())
        problems = []
        try:
            await self.context.store.survey(survey)
        except UnknownSurveyError as exc:
            problems.append(f"survey: {exc}")
        try:
            get_metric(metric)
        except UnknownMetricError as exc:
            problems.append(f"metric: {exc}")
        unknown = [d for d in by if d not in DIMENSIONS]
        if unknown:
            problems.append(
                f"by: {', '.join(map(repr, unknown))} (expected dimensions among: "
                f"{', '.join(DIMENSIONS)})"
            )
        if problems:
            return error_json(422, "invalid_request", "; ".join(problems))
        return survey, metric, by

    async def scores(self, request: Request) -> Response:
        """``GET /live/scores?survey=...&metric=...&by=store``: a stream of score snapshots."""
        refused = await self._allowed(request)
        if refused is not None:
            return refused
        view = await self._view(request)
        if isinstance(view, Response):
            return view
        survey, metric, by = view

        async def events() -> AsyncIterator[str]:
            try:
                async for snapshot in self.live.stream(survey, metric, by):
                    if snapshot is None:
                        yield ": keep-alive\n\n"
                    else:
                        yield f"event: scores\ndata: {json.dumps(snapshot, allow_nan=False)}\n\n"
            except CxError as exc:
                yield f"event: error\ndata: {json.dumps({'message': str(exc)})}\n\n"

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no"},
        )

    async def page(self, request: Request) -> Response:
        """``GET /live?survey=...&metric=...&by=store``: a page that shows the stream as a table."""
        if await self.staff.staff_key(request, "live") is None:
            return self.staff.sign_in_page(request, "live")
        view = await self._view(request)
        if isinstance(view, Response):
            return HTMLResponse(self.context.pages.message("en", "gone", static="static"), 404)
        survey, metric, by = view
        t = words("en")
        html = self.context.pages.render(
            "live.html.j2",
            lang="en",
            title=f"{t['live_title']}: {metric} / {survey}",
            static="static",
            t=t,
            survey=survey,
            metric=metric,
            by=by,
        )
        return HTMLResponse(html)
