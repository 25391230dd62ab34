"""What callers sent: request counts, TCP connections and the last headers per path."""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.types import Scope


class Stats:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        # Each TCP connection has its own client port, so distinct (host, port) pairs count
        # connections. (uvicorn runs with proxy_headers off so `client` is the real peer.)
        self.connections: set[tuple[str, int]] = set()
        self.last_headers: dict[str, dict[str, str]] = {}

    def clear(self) -> None:
        self.requests.clear()
        self.connections.clear()
        self.last_headers.clear()

    def record(self, scope: Scope) -> None:
        path: str = scope["path"]
        self.requests[path] += 1
        client = scope.get("client")
        if client is not None:
            self.connections.add((str(client[0]), int(client[1])))
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.last_headers[path] = headers

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "total_requests": sum(self.requests.values()),
            "connections": len(self.connections),
            "last_headers": self.last_headers,
        }
