"""Small asyncio load generators for the benchmarks: keep-alive HTTP/1.1 and websocket ping-pong.

Written on raw asyncio streams (HTTP) and the websockets client so that the load generator costs
less CPU than the server it measures; on a 2-core machine that matters more than features.
"""

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Sample:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    def summary(self) -> dict:
        return {
            "count": len(self.latencies_ms),
            "errors": self.errors,
            "rate_per_s": round(self.rate, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else None,
        }


async def _http_client(host: str, port: int, path: str, deadline: float, sample: Sample) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            chunked = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "transfer-encoding" and "chunked" in value:
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                await reader.readexactly(length)
            if b" 200 " in status_line:
                sample.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                sample.errors += 1
    finally:
        writer.close()


async def http_load(host: str, port: int, path: str, *, concurrency: int, seconds: float) -> Sample:
    sample = Sample()
    started = time.monotonic()
    deadline = started + seconds
    results = await asyncio.gather(
        *(_http_client(host, port, path, deadline, sample) for _ in range(concurrency)),
        return_exceptions=True,
    )
    sample.errors += sum(1 for result in results if isinstance(result, Exception))
    sample.elapsed_s = time.monotonic() - started
    return sample


async def _ws_client(url: str, origin: str, deadline: float, sample: Sample) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, origin=origin, compression=None, open_timeout=30) as socket:
        counter = 0
        while time.monotonic() < deadline:
            counter += 1
            started = time.perf_counter()
            await socket.send(json.dumps({"type": "ping", "id": counter}))
            await socket.recv()
            sample.latencies_ms.append((time.perf_counter() - started) * 1000)


async def websocket_load(url: str, origin: str, *, connections: int, seconds: float) -> Sample:
    sample = Sample()
    started = time.monotonic()
    deadline = started + seconds
    results = await asyncio.gather(
        *(_ws_client(url, origin, deadline, sample) for _ in range(connections)),
        return_exceptions=True,
    )
    sample.errors += sum(1 for result in results if isinstance(result, Exception))
    sample.elapsed_s = time.monotonic() - started
    return sample
