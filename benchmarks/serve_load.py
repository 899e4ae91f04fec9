"""`img2tex serve` under load on loopback: requests/s and latency at 1, 8 and 32 concurrent
clients, for this code and an earlier revision, in one run, side by side.

    python benchmarks/serve_load.py --baseline-rev f708f40

Both servers run the shipped model with the default beam on this machine, and the clients
(threads of this process, one kept-open connection each) share its cores with them; the baseline is checked
out with `git worktree` and run with PYTHONPATH (same packages, only the code differs). Each
client posts images from `examples/` in turn, `--requests` per level (bounded, with a time limit),
and every answer is checked against the answer the same server gave to a lone request for that
image. Levels alternate between the two servers. Writes benchmarks/results/serve_load.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from machine import describe, write_results  # benchmarks/ is the script's folder

REPO = Path(__file__).resolve().parents[1]
IMAGES = sorted((REPO / "examples").glob("*.png"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(src: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "img2tex.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, cwd=src, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"error: the server from {src} did not start: {proc.stderr.read().decode()[-400:]}")


def load(url: str, clients: int, requests: int, limit_s: float, expected: dict[str, str]) -> dict[str, float]:
    bodies = [(p.name, p.read_bytes()) for p in IMAGES]
    deadline = time.monotonic() + limit_s
    local = threading.local()  # one connection per client, kept open as an editor plugin keeps it

    def one(i: int) -> tuple[float, bool, int]:
        if time.monotonic() > deadline:
            return float("nan"), False, 0
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=120)
        name, body = bodies[i % len(bodies)]
        t = time.perf_counter()
        r = local.client.post(f"{url}/predict", content=body)
        took = time.perf_counter() - t
        right = r.status_code == 200 and r.json()["latex"] == expected[name]
        return took, right, r.status_code

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = [x for x in pool.map(one, range(requests)) if x[2]]
    wall = time.perf_counter() - t0
    lat = sorted(x[0] for x in done)
    return {
        "clients": clients,
        "requests": len(done),
        "requests_per_s": round(len(done) / wall, 1),
        "p50_ms": round(1000 * statistics.median(lat), 1),
        "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1),
        "right": sum(x[1] for x in done),
        "status_503": sum(x[2] == 503 for x in done),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-rev", required=True, help="git revision to compare with")
    ap.add_argument("--requests", type=int, default=300, help="requests per level")
    ap.add_argument("--limit-s", type=float, default=60.0, help="time limit per level")
    ap.add_argument("--clients", default="1,8,32")
    args = ap.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    rows: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), args.baseline_rev], check=True
        )
        servers = {}
        try:
            for label, src in ((f"baseline {args.baseline_rev}", base), ("this code", REPO)):
                servers[label] = start(src)
            expected = {}
            for label, (_, url) in servers.items():
                expected[label] = {
                    p.name: httpx.post(f"{url}/predict", content=p.read_bytes()).json()["latex"] for p in IMAGES
                }
            for clients in levels:
                for label, (_, url) in servers.items():
                    r = load(url, clients, args.requests, args.limit_s, expected[label])
                    rows.setdefault(label, []).append(r)
                    print(label, r, flush=True)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(10)
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], check=True)
    machine = describe()
    lines = [
        "# img2tex serve under load (loopback)",
        "",
        f"Shipped model, default beam; images from `examples/` in turn; {machine['cpu']}, {machine['cores']} cores.",
        "`python benchmarks/serve_load.py --baseline-rev " + args.baseline_rev + "`. 'right': the same answer",
        "as the same server gives a lone request.",
        "",
        "| server | clients | requests | requests/s | p50 ms | p99 ms | right | 503 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, rs in rows.items():
        for r in rs:
            lines.append(
                f"| {label} | {r['clients']} | {r['requests']} | {r['requests_per_s']} | {r['p50_ms']} | "
                f"{r['p99_ms']} | {r['right']} | {r['status_503']} |"
            )
    write_results("serve_load", {"machine": machine, "rows": rows}, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
