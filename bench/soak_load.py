"""Open-loop load for the soak benchmark: request i is due at start + i / rate, whatever came before.

Latency counts from when a request was due, so a stall shows in every request it delayed rather than
in the one that met it (no coordinated omission); the event loop's timers wake up to 1 ms late, which
every runtime pays alike. At most `--connections` requests are in flight;
a request due while all are busy waits, and that wait is part of its latency. Uses the gateway's
own httptools client (a Python client fast enough for thousands of requests per second on one core).
Writes `<out>.latency.npy` (seconds) and `<out>.status.npy`; prints progress every tenth.
Run by `bench_soak.py` in a process of its own: `python bench/soak_load.py --url
http://127.0.0.1:8080/v1/models/iris:predict --rate 1000 --requests 100000 --out run`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

import numpy as np

from kubeloop.serving.gateway.http import ClientPool
from kubeloop.serving.testing import iris_rows


async def run(*, url: str, rate: float, requests: int, connections: int) -> tuple[np.ndarray, np.ndarray]:
    """Send `requests` at `rate` per second; latencies (s, from when each was due) and statuses."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    head = f"POST {parts.path} HTTP/1.1\r\nhost: {address[0]}\r\ncontent-type: application/json\r\n".encode()
    bodies = [json.dumps({"instances": [row]}).encode() for row in iris_rows()]
    latency, status = np.full(requests, np.nan), np.zeros(requests, dtype=np.int16)
    pool, slots = ClientPool(max_idle=connections), asyncio.Semaphore(connections)
    tasks: set[asyncio.Future[None]] = set()
    clock = time.perf_counter  # uvloop's loop.time() has millisecond resolution

    async def one(index: int, due: float) -> None:
        try:
            response = await pool.request(address, head, bodies[index % len(bodies)], timeout=30.0)
            status[index] = response.status
        except (OSError, TimeoutError):
            status[index] = 599
        finally:
            latency[index] = clock() - due
            slots.release()

    start, tenth = clock() + 0.05, max(1, requests // 10)
    for index in range(requests):
        due = start + index / rate
        if due > clock():
            await asyncio.sleep(due - clock())
        await slots.acquire()
        task = asyncio.ensure_future(one(index, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        if (index + 1) % tenth == 0:
            print(f"  sent {index + 1:,} of {requests:,}", file=sys.stderr, flush=True)
    await asyncio.gather(*tasks)
    pool.close()
    return latency, status


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import uvloop

    started = time.monotonic()
    latency, status = uvloop.run(run(url=args.url, rate=args.rate, requests=args.requests,
                                     connections=args.connections))
    np.save(f"{args.out}.latency.npy", latency)
    np.save(f"{args.out}.status.npy", status)
    print(f"  done in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
