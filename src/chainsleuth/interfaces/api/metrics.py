"""Prometheus text-format metrics, kept in memory by the service."""

from __future__ import annotations

import threading
from collections import defaultdict


class Metrics:
    """Request counts and latency sums per route and status, and screening levels."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.levels: dict[str, int] = defaultdict(int)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request."""
        with self._lock:
            self.requests[(method, route, status)] += 1
            self.seconds[route] += seconds

    def level(self, level: str) -> None:
        """Count one screening result by level."""
        with self._lock:
            self.levels[level] += 1

    def render(self) -> str:
        """The Prometheus exposition text."""
        lines = [
            "# HELP chainsleuth_requests_total HTTP requests by method, route and status.",
            "# TYPE chainsleuth_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self.requests.items()):
                lines.append(
                    f'chainsleuth_requests_total{{method="{method}",route="{route}",'
                    f'status="{status}"}} {n}'
                )
            lines += [
                "# HELP chainsleuth_request_seconds_sum Time spent per route.",
                "# TYPE chainsleuth_request_seconds_sum counter",
            ]
            for route, s in sorted(self.seconds.items()):
                lines.append(f'chainsleuth_request_seconds_sum{{route="{route}"}} {s:.6f}')
            lines += [
                "# HELP chainsleuth_screenings_total Screening results by risk level.",
                "# TYPE chainsleuth_screenings_total counter",
            ]
            for level, n in sorted(self.levels.items()):
                lines.append(f'chainsleuth_screenings_total{{level="{level}"}} {n}')
        return "\n".join(lines) + "\n"
