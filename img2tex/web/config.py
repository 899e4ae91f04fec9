"""`img2tex serve`'s settings (torch- and starlette-free, so the command line reads its defaults
without importing the server)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServeConfig:
    """How the server takes uploads and batches them; `img2tex serve`'s options default to these."""

    #: Largest upload accepted, in MB (a formula image is rarely over 1 MB).
    max_upload_mb: float = 10.0
    #: Images decoded together at most.
    max_batch: int = 8
    #: How long a batch waits for the images of requests still being read, in milliseconds (a
    #: lone request does not wait: `web.batcher`).
    max_wait_ms: float = 20.0
    #: Images waiting beyond this many get 503 and Retry-After at once.
    max_queue: int = 64
    #: Seconds a request waits for its answer before it gets 504.
    timeout_s: float = 30.0

    def validate(self) -> None:
        """ValueError naming the `img2tex serve` option of a setting out of range."""
        for name in ("max_upload_mb", "timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{_OPTION[name]} must be positive")
        for name in ("max_batch", "max_queue"):
            if getattr(self, name) < 1:
                raise ValueError(f"{_OPTION[name]} must be at least 1")
        if self.max_wait_ms < 0:
            raise ValueError(f"{_OPTION['max_wait_ms']} must be at least 0")


#: Each setting's option of `img2tex serve`, for messages.
_OPTION = {
    "max_upload_mb": "max-upload-mb",
    "max_batch": "max-batch",
    "max_wait_ms": "max-wait-ms",
    "max_queue": "max-queue",
    "timeout_s": "timeout",
}
