"""The local web page and JSON API of `img2tex serve`: a Starlette app over one loaded `Img2Tex`.

Routes
- ``GET /``: the page (paste, drop or pick an image; LaTeX, KaTeX preview, copy, confidence).
- ``POST /predict``: the image as the multipart field ``image`` or as the raw request body
  (``?verify=1``: answer with the candidate whose typeset picture matches it; needs LaTeX;
  ``?model=handwritten``: read it with the handwritten model, where the server has one);
  answers ``{"latex", "tokens", "mathml", "score", "confidence"}`` (``mathml`` null where the
  LaTeX does not convert), or a 4xx ``{"error": ...}`` for an
  upload that is missing (400), unreadable (400) or larger than the limit (413).
  When too many images are waiting it answers 503 with Retry-After, and 504 when an answer
  takes longer than the time limit.
- ``GET /health``: ``{"status": "ok", "model": ..., "models": [...], "batching": {...}}``.
- ``/static/...``: the page's script, style and KaTeX, shipped in the package (no CDN).

The models load once, when the app is made (the first is the default; the page offers a drawing
pad when one is called ``handwritten``), each with its own batcher. Requests are read on the event loop and their images
preprocessed in worker threads; one thread decodes them, gathering the requests that arrive
together into batches (`web.batcher`): decoding already uses every core through ONNX Runtime,
and a batch of eight costs little more than one image.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from img2tex.errors import Img2TexError
from img2tex.mathml import to_mathml
from img2tex.tokenizer import to_readable
from img2tex.web.batcher import Batcher, Overloaded, describe
from img2tex.web.config import ServeConfig

if TYPE_CHECKING:
    from img2tex.predict import Img2Tex

STATIC = Path(__file__).parent / "static"


#: Seconds a client is told to wait before retrying when the queue is full.
RETRY_AFTER_S = 1


class UploadError(Exception):
    """An upload that gets a 4xx answer: `status` and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes `limit` bytes, before it is all read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadError(413, f"upload is too large ({int(declared):,} bytes, limit {limit:,})")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise UploadError(413, f"upload is too large (over {limit:,} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


async def _image_bytes(request: Request, limit: int) -> bytes:
    """The uploaded image: the multipart field `image`, or the raw body."""
    body = await _read_body(request, limit)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        sent = False

        async def replay() -> dict[str, Any]:  # hand the already-read body to the form parser
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            async with Request(request.scope, replay).form(max_files=1, max_fields=10) as form:
                field = form.get("image")
                if field is None or isinstance(field, str):
                    raise UploadError(400, "no file in the multipart field 'image'")
                return await field.read()
        except UploadError:
            raise
        except Exception as exc:  # the parser's own errors: a malformed multipart body
            raise UploadError(400, f"malformed multipart upload ({type(exc).__name__})") from None
    if not body:
        raise UploadError(400, "empty upload: send the image as the multipart field 'image' or as the body")
    return body


def _mathml(latex: str) -> str | None:
    """The answer as MathML, or None where it does not convert (the answer stays whole)."""
    try:
        return to_mathml(latex)
    except Img2TexError:
        return None


def create_app(
    readers: Img2Tex | Mapping[str, Img2Tex],
    max_upload_bytes: int | None = None,
    config: ServeConfig | None = None,
) -> Starlette:
    """The app, serving one reader or several by name (``?model=NAME``; the first is the
    default), each loaded here, once. `max_upload_bytes` overrides the config's upload limit."""
    cfg = config or ServeConfig()
    cfg.validate()
    limit = max_upload_bytes if max_upload_bytes is not None else int(cfg.max_upload_mb * 1024 * 1024)
    named = dict(readers) if isinstance(readers, Mapping) else {"default": readers}
    if not named:
        raise ValueError("create_app needs at least one reader")
    for r in named.values():
        r.load()

    verifiers: list[Any] = []  # made on the first request that asks for verification

    def verifier() -> Any:
        if not verifiers:
            from img2tex.decoding.verify import Verifier

            verifiers.append(Verifier())  # RenderError (one line) where LaTeX is missing
        return verifiers[0]

    def decoder(reader: Img2Tex) -> Any:
        def decode_batch(items: Sequence[tuple[Any, bool]]) -> list[tuple[str, float]]:
            """(array, verify) items: the plain ones decoded together, the verified ones together."""
            out: list[tuple[str, float]] = [("", 0.0)] * len(items)
            for verify in (False, True):
                idx = [i for i, (_, v) in enumerate(items) if v == verify]
                if not idx:
                    continue
                arrays = [items[i][0] for i in idx]
                if verify:
                    answers = [found[0] for found in reader.ranked_arrays(arrays, 1, verifier())]
                else:
                    answers = reader.predict_arrays(arrays)
                for i, answer in zip(idx, answers):
                    out[i] = answer
            return out

        return decode_batch

    batchers: dict[str, Batcher[Any, tuple[str, float]]] = {
        name: Batcher(decoder(r), max_batch=cfg.max_batch, max_wait_s=cfg.max_wait_ms / 1000, max_queue=cfg.max_queue)
        for name, r in named.items()
    }
    default_name = next(iter(named))

    def prepare(reader: Img2Tex, data: bytes) -> Any:
        try:
            return reader.prepare(data, "image")
        except Img2TexError as exc:  # name the image, as predict does: "image is blank" lacks it
            msg = str(exc)
            raise type(exc)(msg if msg.startswith("image") else f"image: {msg}") from None

    async def predict(request: Request) -> JSONResponse:
        try:
            name = request.query_params.get("model") or default_name
            if name not in named:
                raise UploadError(400, f"no model {name!r} here (models: {', '.join(named)})")
            reader, batcher = named[name], batchers[name]
            verify = request.query_params.get("verify", "").lower() in ("1", "true", "yes", "on")
            if verify:
                await run_in_threadpool(verifier)  # LaTeX missing on the server: a 400 with its reason now
            data = await _image_bytes(request, limit)
            try:
                with batcher.incoming():
                    array = await run_in_threadpool(prepare, reader, data)
                    future = batcher.submit((array, verify))
            except Overloaded as exc:
                return JSONResponse(
                    {"error": f"busy: {exc}; try again shortly"},
                    status_code=503,
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            try:
                tokens, score = await asyncio.wait_for(asyncio.wrap_future(future), cfg.timeout_s)
            except asyncio.TimeoutError:
                future.cancel()  # not decoded yet: skipped when its batch is gathered
                return JSONResponse({"error": f"no answer within {cfg.timeout_s:g} s"}, status_code=504)
            score = float(score)
            latex = to_readable(tokens)
            return JSONResponse(
                {
                    "latex": latex,
                    "tokens": tokens,
                    "mathml": _mathml(latex),
                    "score": round(score, 4),
                    "confidence": math.exp(score),
                }
            )
        except UploadError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except Img2TexError as exc:  # unreadable, blank or too large an image
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def index(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html")

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "model": str(named[default_name].model_dir),
                "models": list(named),
                "batching": describe(batchers[default_name]),
            }
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for batcher in batchers.values():
            await run_in_threadpool(batcher.close)

    return Starlette(
        routes=[
            Route("/", index),
            Route("/predict", predict, methods=["POST"]),
            Route("/health", health),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
    )
