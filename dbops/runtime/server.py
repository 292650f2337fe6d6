"""HTTP endpoints every replica serves: ``/healthz`` + ``/readyz`` (``:8081``) and ``/metrics`` (``:8080``).

Checks are named callables returning ``(ok, detail)``; ``?verbose`` lists them the way the kube-apiserver does
(``[+]informers ok``). Probes must never depend on a database server (``observability.md`` 3): they only look at
the process itself — event loop, heartbeat, informers, shutdown state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

Check = Callable[[], tuple[bool, str]]


def parse_bind_address(address: str) -> tuple[str, int] | None:
    """``":8080"`` → ``("0.0.0.0", 8080)``; ``"127.0.0.1:0"`` → ephemeral port; ``"0"`` or ``""`` → disabled."""
    address = address.strip()
    if address in ("", "0"):
        return None
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ValueError(f"invalid bind address {address!r}: expected [host]:port")
    try:
        port_num = int(port)
    except ValueError:
        raise ValueError(f"invalid bind address {address!r}: port is not a number") from None
    if not 0 <= port_num <= 65535:
        raise ValueError(f"invalid bind address {address!r}: port out of range")
    return (host.strip("[]") or "0.0.0.0", port_num)


@dataclass
class Checks:
    """Named probe checks; a probe passes when all of its checks pass."""

    checks: dict[str, Check] = field(default_factory=dict)

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    def evaluate(self) -> tuple[bool, list[str]]:
        ok = True
        lines: list[str] = []
        for name, check in self.checks.items():
            try:
                passed, detail = check()
            except Exception as exc:
                passed, detail = False, f"check raised {type(exc).__name__}: {exc}"
            ok = ok and passed
            lines.append(f"[+]{name} ok" if passed else f"[-]{name} failed: {detail}")
        return ok, lines


class _Server:
    def __init__(self, address: str) -> None:
        self.bind = parse_bind_address(address)
        self.app = web.Application()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        if self.bind is None:
            return
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind[0], self.bind[1], reuse_address=True)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else self.bind[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class HealthServer(_Server):
    """``/healthz`` (liveness) and ``/readyz`` (readiness)."""

    def __init__(self, address: str, liveness: Checks, readiness: Checks) -> None:
        super().__init__(address)
        self.liveness = liveness
        self.readiness = readiness
        self.app.router.add_get("/healthz", self._probe(liveness))
        self.app.router.add_get("/livez", self._probe(liveness))
        self.app.router.add_get("/readyz", self._probe(readiness))

    @staticmethod
    def _probe(checks: Checks) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.Response:
            ok, lines = checks.evaluate()
            if "verbose" in request.query:
                text = "\n".join([*lines, "ok" if ok else "check failed"]) + "\n"
            else:
                text = "ok" if ok else "\n".join(line for line in lines if line.startswith("[-]")) + "\n"
            return web.Response(status=200 if ok else 500, text=text)

        return handler


class MetricsServer(_Server):
    """``/metrics`` in the Prometheus text format (OpenMetrics when the scraper asks for it)."""

    def __init__(self, address: str, registry: CollectorRegistry = REGISTRY) -> None:
        super().__init__(address)
        self.registry = registry
        self.app.router.add_get("/metrics", self._metrics)

    async def _metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = encoder(self.registry)
        return web.Response(body=body, headers={"Content-Type": content_type})
