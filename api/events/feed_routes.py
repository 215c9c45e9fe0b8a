"""GET /v1/events: the log for programs without NATS, as JSON pages or as SSE.

Both carry the CloudEvents envelope the relay publishes on NATS, so a
program can switch transports without changing its parser. SSE ids are
notification ids: a client that reconnects with `Last-Event-ID` continues
after the last event it received, with nothing missed and nothing repeated.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from api.common.errors import ApiError, keystone_error
from api.common.http import Call, endpoint, json_response
from api.events.hub import BATCH, FeedHub, Subscriber
from api.events.support import (
    Caller,
    EventsDeps,
    caller,
    int_param,
    limit_of,
    next_link,
    project_filter,
)
from projections.audit.feed import FeedItem, Subscription
from projections.audit.queries import AuditFilter

SSE_TYPE = "text/event-stream"


def subscription_of(who: Caller, call: Call) -> Subscription:
    types = tuple(t for raw in call.query_lists.get("type", []) for t in raw.split(",") if t)
    return Subscription(
        types=types, project_id=project_filter(who, call), visibility=who.visibility
    )


def sse_message(item: FeedItem) -> bytes:
    data = json.dumps(item.envelope, separators=(",", ":"), ensure_ascii=False)
    return f"id: {item.id}\nevent: {item.envelope['type']}\ndata: {data}\n\n".encode()


class FeedApi:
    def __init__(self, deps: EventsDeps, hub: FeedHub) -> None:
        self.deps = deps
        self.hub = hub

    def routes(self, wrap: Any) -> list[Route]:
        page: Callable[[Request], Awaitable[Response]] = wrap(self.page)

        async def events(request: Request) -> Response:
            if SSE_TYPE in request.headers.get("accept", ""):
                return await self.stream(request)
            return await page(request)

        return [Route("/v1/events", events, methods=["GET"])]

    def page(self, call: Call) -> Response:
        who = caller(self.deps, call)
        subscription = subscription_of(who, call)
        limit = limit_of(call)
        after = int_param(call, "after", 0, 0, 2**62)
        items = self.deps.feed.page(self._filter(subscription, after, limit))
        if len(subscription.types) > 1:
            items = [i for i in items if subscription.matches(i.row)]
        last = items[-1].id if items else after
        return json_response(
            {
                "events": [i.envelope for i in items],
                "last_id": last,
                "links": {
                    "self": str(call.request.url),
                    "next": next_link(call, "after", last) if len(items) == limit else None,
                },
            }
        )

    def _filter(self, subscription: Subscription, after: int, limit: int) -> AuditFilter:
        # One type filters in SQL; several are matched in Python after it.
        single = subscription.types[0] if len(subscription.types) == 1 else None
        return AuditFilter(
            project_id=subscription.project_id,
            event_type=single,
            after=after,
            limit=limit,
            visibility=subscription.visibility,
        )

    async def stream(self, request: Request) -> Response:
        """Authenticate and validate up front, so errors are plain JSON, not a stream."""
        prepared: dict[str, Any] = {}

        def prepare(call: Call) -> Response:
            who = caller(self.deps, call)
            resume = call.header("Last-Event-ID") or call.query.get("after") or "0"
            try:
                prepared["after"] = max(0, int(resume))
            except ValueError as error:
                raise ApiError(400, "Last-Event-ID must be a notification id.") from error
            prepared["who"], prepared["subscription"] = who, subscription_of(who, call)
            prepared["token"] = call.header("X-Auth-Token")
            return Response(status_code=204)

        checked = await endpoint(prepare, keystone_error)(request)
        if checked.status_code != 204:
            return checked
        body = self._events(prepared["after"], prepared["subscription"], prepared["token"])
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(body, media_type=SSE_TYPE, headers=headers)

    async def _events(
        self, after: int, subscription: Subscription, token: str
    ) -> AsyncIterator[bytes]:
        last = after
        yield b"retry: 1000\n\n"
        while True:
            subscriber = await self.hub.subscribe()
            try:
                async for chunk in self._catch_up(last, subscriber, subscription):
                    if isinstance(chunk, int):
                        last = chunk
                    else:
                        yield chunk
                async for chunk in self._live(last, subscriber, subscription, token):
                    if isinstance(chunk, int):
                        last = chunk
                    else:
                        yield chunk
                if not subscriber.dropped:
                    return  # the token is no longer valid
            finally:
                self.hub.unsubscribe(subscriber)

    async def _catch_up(
        self, last: int, subscriber: Subscriber, subscription: Subscription
    ) -> AsyncIterator[bytes | int]:
        """From the index up to (at least) where the live items begin."""
        while True:
            wanted = self._filter(subscription, last, BATCH)
            items = await run_in_threadpool(self.deps.feed.page, wanted)
            for item in items:
                if subscription.matches(item.row):
                    yield sse_message(item)
                last = item.id
                yield last
            if len(items) < BATCH:
                yield max(last, subscriber.start)
                return

    async def _live(
        self, last: int, subscriber: Subscriber, subscription: Subscription, token: str
    ) -> AsyncIterator[bytes | int]:
        while True:
            try:
                item = await asyncio.wait_for(
                    subscriber.queue.get(), timeout=self.deps.keepalive_seconds
                )
            except TimeoutError:
                if not await self._still_valid(token):
                    return
                yield b": keep-alive\n\n"
                continue
            if item is None:
                return  # dropped for being slow: catch up again
            if item.id <= last:
                continue
            last = item.id
            if subscription.matches(item.row):
                yield sse_message(item)
            yield last

    async def _still_valid(self, token: str) -> bool:
        try:
            await run_in_threadpool(self.deps.authenticator.validate, token)
        except ApiError:
            return False
        return True
