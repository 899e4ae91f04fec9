"""`img2tex serve`: the local web page and JSON API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from img2tex.cli.common import BEAM_HELP, MODEL_HELP, app, console, fail, given
from img2tex.decoding.hypotheses import DecodeConfig
from img2tex.web.config import ServeConfig


# -------------------------------------------------------------------------------------- serve
@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it to this machine, 0.0.0.0 opens it to all.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    model: Annotated[Optional[Path], typer.Option(help=MODEL_HELP)] = None,
    handwritten_model: Annotated[
        Optional[str],
        typer.Option(
            help="The model the page's drawing pad and ?model=handwritten use: a folder, a shipped model's "
            "name, or none [default: handwritten, where it ships]."
        ),
    ] = None,
    beam: Annotated[int, typer.Option(help=BEAM_HELP)] = DecodeConfig.beam,
    max_upload_mb: Annotated[
        Optional[float], typer.Option(help=f"Largest upload accepted, in MB [default: {ServeConfig.max_upload_mb:g}].")
    ] = None,
    engine: Annotated[str, typer.Option(help="onnx, torch or auto (as for predict).")] = "auto",
    max_batch: Annotated[
        Optional[int],
        typer.Option(
            help=f"Images of concurrent requests decoded together, at most [default: {ServeConfig.max_batch}]."
        ),
    ] = None,
    max_wait_ms: Annotated[
        Optional[float],
        typer.Option(
            help="How long a request's image waits for others to join its batch, in ms "
            f"[default: {ServeConfig.max_wait_ms:g}]."
        ),
    ] = None,
    max_queue: Annotated[
        Optional[int],
        typer.Option(
            help="Images waiting beyond this many are refused at once with 503 and Retry-After "
            f"[default: {ServeConfig.max_queue}]."
        ),
    ] = None,
    timeout: Annotated[
        Optional[float],
        typer.Option(help=f"Seconds a request waits for its answer before 504 [default: {ServeConfig.timeout_s:g}]."),
    ] = None,
) -> None:
    """Serve a local web page and JSON API: paste, drop or pick a formula image and get its LaTeX.

    The page shows the LaTeX, a rendered preview (KaTeX, shipped in the package: it works
    offline), a copy button and the confidence. The API: POST /predict with the image as the
    multipart field 'image' or as the raw body answers {"latex", "tokens", "score",
    "confidence"}; an unreadable or oversized upload gets a 4xx {"error"}. The model loads once;
    requests that arrive together are decoded together (up to --max-batch), and when --max-queue
    images wait a request gets 503 with Retry-After. GET /health reports the batching counters.

    **Examples**

      img2tex serve                 (then open http://127.0.0.1:8000)

      curl -F image=@formula.png http://127.0.0.1:8000/predict

      curl --data-binary @formula.png http://127.0.0.1:8000/predict

      curl --data-binary @handwritten.png "http://127.0.0.1:8000/predict?model=handwritten"
    """
    if not 0 <= port < 65536:
        raise fail(f"--port must be between 0 (any free port) and 65535, not {port}")
    cfg = ServeConfig(
        **given(
            max_upload_mb=max_upload_mb,
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            max_queue=max_queue,
            timeout_s=timeout,
        )
    )
    try:
        cfg.validate()
    except ValueError as exc:
        raise fail(f"--{exc}") from None
    import socket

    import uvicorn

    from img2tex.predict import Img2Tex, shipped_model
    from img2tex.web.app import create_app

    # Bind first, so that a taken port or a bad address is our one-line error (not uvicorn's log),
    # before the model loads.
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        raise fail(f"cannot listen on {host}:{port} ({getattr(exc, 'strerror', None) or exc})") from None
    readers = {"default": Img2Tex(model, beam=beam, engine=engine)}
    pad = handwritten_model if handwritten_model is not None else shipped_model("handwritten")
    if pad is not None and str(pad) != "none":
        readers["handwritten"] = Img2Tex(pad, beam=beam, engine=engine)
    web = create_app(readers, config=cfg)
    console.print(f"img2tex serving on http://{host}:{sock.getsockname()[1]} (Ctrl-C stops)", highlight=False)
    uvicorn.Server(uvicorn.Config(web, log_level="warning")).run(sockets=[sock])
