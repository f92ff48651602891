"""The HTTP API of `tagger serve` (Starlette): `POST /tag`, `GET /health`, `GET /models`, and UDPipe 2's under `/udpipe/`.

Every answer is JSON. A request the server cannot serve gets a 4xx status and `{"error": REASON}`, one
line: 400 malformed JSON, a wrong type or an unknown option, 404 an unknown model or path, 405 a wrong
method, 413 a body or text over its limit, 429 too many requests in flight. An error inside the server
is a 500 with `{"error": "internal error ..."}`, its traceback logged on the server's side only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tagger.errors import TaggerError
from tagger.inference.documents import TaggedDocument
from tagger.serving.batcher import Batcher, Job
from tagger.serving.limits import Limits
from tagger.serving.models import ServedModels, UnknownModel

log = logging.getLogger(__name__)


class RequestError(Exception):
    """A request the server will not serve: answered `status` with `{"error": reason}`."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def error_response(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


class InFlight:
    """Counts the requests being served; one more than the limit is refused with 429 (`async with`)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.served = 0

    async def __aenter__(self) -> None:
        if self.count >= self.limit:
            raise RequestError(429, f"{self.count} requests are in flight, the most this server takes "
                                    f"(--max-in-flight {self.limit}); retry shortly")
        self.count += 1

    async def __aexit__(self, *exc_info) -> None:
        self.count -= 1
        self.served += 1


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a body over `limit` bytes is refused with 413, by its Content-Length before it is
    read, or as soon as its chunks (chunked transfer) pass the limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await error_response(413, self.reason(int(length)))(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BodyTooLarge(self.reason(received))
            return message

        await self.app(scope, limited_receive, send)

    def reason(self, size: int) -> str:
        return f"the request body has {size:,} bytes or more; the limit is {self.limit:,} (--max-body-bytes)"


class TagRequest(BaseModel):
    """`POST /tag`'s body: `text` or `texts`, and the options of `tagger tag`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str | None = None
    texts: list[str] | None = None
    model: str | None = None
    input_format: Literal["auto", "raw", "lines", "tokenized", "conllu"] = "auto"
    probabilities: bool = False
    top_k: int = Field(default=0, ge=0)


def validation_reason(error: ValidationError) -> str:
    """A pydantic error as one line: what is wrong, where."""
    reasons = []
    for item in error.errors(include_url=False):
        where = ".".join(map(str, item["loc"]))
        if item["type"] == "extra_forbidden":
            reasons.append(f"unknown option {where!r} (a request has text or texts, and model, input_format, "
                           "probabilities, top_k)")
        elif item["type"] == "json_invalid":
            reasons.append(f"the body is not JSON ({item['ctx']['error']})")
        elif item["type"] == "model_type":
            reasons.append('the body must be a JSON object, e.g. {"text": "..."}')
        else:
            reasons.append(f"{where}: {item['msg'][0].lower()}{item['msg'][1:]}")
    return "; ".join(reasons)


def check_lengths(texts: list[str], limit: int) -> None:
    for i, text in enumerate(texts):
        if len(text) > limit:
            which = "the text" if len(texts) == 1 else f"text {i}"
            raise RequestError(413, f"{which} has {len(text):,} characters; the limit is {limit:,} (--max-text-chars)")


def documents_as_dicts(documents: list[TaggedDocument]) -> list[dict]:
    return [document.to_dict() for document in documents]


class Service:
    """What the routes share: the models, the tagging thread, the limits and the requests in flight."""

    def __init__(self, models: ServedModels, batcher: Batcher, limits: Limits) -> None:
        self.models, self.batcher, self.limits = models, batcher, limits
        self.in_flight = InFlight(limits.max_in_flight)

    async def run(self, job: Job):
        """The job's rendered result, tagged on the batcher's thread; a TaggerError is the request's fault (400)."""
        try:
            return await asyncio.wrap_future(self.batcher.submit(job))
        except TaggerError as error:
            raise RequestError(400, str(error)) from None

    async def tag(self, request: Request) -> JSONResponse:
        async with self.in_flight:
            try:
                body = TagRequest.model_validate_json(await request.body())
            except ValidationError as error:
                raise RequestError(400, validation_reason(error)) from None
            if (body.text is None) == (body.texts is None):
                raise RequestError(400, 'give "text" (one text) or "texts" (a list of texts), not both or neither')
            texts = [body.text] if body.text is not None else body.texts
            check_lengths(texts, self.limits.max_text_chars)
            try:
                model = self.models.resolve(body.model)
            except UnknownModel as error:
                raise RequestError(404, str(error)) from None
            documents = await self.run(Job(model, texts, documents_as_dicts, body.input_format, body.probabilities,
                                           body.top_k))
            return JSONResponse(documents[0] if body.text is not None else {"documents": documents})

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "in_flight": self.in_flight.count, "served": self.in_flight.served,
                             "batches": self.batcher.batches})

    async def list_models(self, request: Request) -> JSONResponse:
        return JSONResponse(self.models.describe())


async def _request_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestError)
    return error_response(error.status, error.reason)


async def _body_too_large(request: Request, error: Exception) -> JSONResponse:
    return error_response(413, str(error))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    reasons = {404: f"no such path {request.url.path!r} (POST /tag, GET /health, GET /models, /udpipe/models, "
                    "/udpipe/process)",
               405: f"{request.method} is not allowed on {request.url.path}"}
    return error_response(error.status_code, reasons.get(error.status_code, str(error.detail)))


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    log.error("error serving %s %s", request.method, request.url.path, exc_info=error)
    return error_response(500, "internal error (the server's log has the details); the server goes on serving")


def create_app(models: ServedModels, batcher: Batcher, limits: Limits = Limits()) -> Starlette:
    """The application; its lifespan starts the tagging thread and, once the requests in flight are
    answered (uvicorn's graceful shutdown on SIGTERM), tags what is queued and stops it."""
    from tagger.serving.udpipe import udpipe_routes

    service = Service(models, batcher, limits)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:
            await asyncio.to_thread(batcher.stop)

    app = Starlette(
        routes=[
            Route("/tag", service.tag, methods=["POST"]),
            Route("/health", service.health, methods=["GET"]),
            Route("/models", service.list_models, methods=["GET"]),
            Mount("/udpipe", routes=udpipe_routes(service)),
        ],
        exception_handlers={RequestError: _request_error, BodyTooLarge: _body_too_large, HTTPException: _http_error,
                            Exception: _internal_error},
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=limits.max_body_bytes)
    app.state.service = service
    return app

