"""The local web page and JSON API of `img2tex serve`: a Starlette app over one loaded `Img2Tex`.

Routes
- ``GET /``: the page (paste, drop or pick an image; LaTeX, KaTeX preview, copy, confidence).
- ``POST /predict``: the image as the multipart field ``image`` or as the raw request body;
  answers ``{"latex", "tokens", "score", "confidence"}``, or a 4xx ``{"error": ...}`` for an
  upload that is missing (400), unreadable (400) or larger than the limit (413).
- ``GET /health``: ``{"status": "ok", "model": ...}``.
- ``/static/...``: the page's script, style and KaTeX, shipped in the package (no CDN).

The model loads once, when the app is made. Requests are read on the event loop and decoded in
worker threads one at a time (a lock): decoding already uses every core through ONNX Runtime, so
parallel decodes would not finish sooner, and one at a time keeps memory flat under a burst.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from img2tex.errors import Img2TexError

if TYPE_CHECKING:
    from img2tex.predict import Img2Tex

STATIC = Path(__file__).parent / "static"

#: Largest upload accepted, in bytes (a formula image is rarely over 1 MB).
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


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


def create_app(reader: Img2Tex, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> Starlette:
    """The app, serving `reader` (loaded here, once)."""
    reader.load()
    lock = threading.Lock()

    def decode(data: bytes) -> dict[str, Any]:
        with lock:
            res = reader.predict(data)
        score = float(res.score or 0.0)
        return {"latex": res.latex, "tokens": res.tokens, "score": round(score, 4), "confidence": math.exp(score)}

    async def predict(request: Request) -> JSONResponse:
        try:
            data = await _image_bytes(request, max_upload_bytes)
            return JSONResponse(await run_in_threadpool(decode, data))
        except UploadError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except Img2TexError as exc:  # unreadable, blank or too large an image
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def index(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html")

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model": str(reader.model_dir)})

    return Starlette(
        routes=[
            Route("/", index),
            Route("/predict", predict, methods=["POST"]),
            Route("/health", health),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    )
