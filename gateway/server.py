"""Wiring: start the gateway in the running event loop, in-process (tests, `kiosk-sim`) or from
the CLI.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from dataclasses import dataclass

from aiohttp import web

from common.clock import Clock, SystemClock
from gateway.accesslog import AccessLog
from gateway.admin import ROUTES as ADMIN_ROUTES
from gateway.admin import AdminApi
from gateway.antiscrape import AntiScrape
from gateway.api import HEALTH, DeviceApi, add_fallback
from gateway.config import GatewayConfig, UpstreamConfig, read_secret
from gateway.crl import CrlKeeper
from gateway.edges import http_edges
from gateway.errors import ConfigError
from gateway.httpserver import QuietAppRunner
from gateway.limits import ConnectionGuard
from gateway.logs import setup_logging
from gateway.peers import PeerIdentifier
from gateway.registry import Registry
from gateway.relay import RETURNS, VERIFY, Relay
from gateway.replay import SealedReplay, read_key_file, start_replay
from gateway.store import Store, make_store
from gateway.tls import load_ca, server_context
from gateway.upstream.base import Upstream, UpstreamAccount
from gateway.upstream.client import UpstreamClient
from gateway.upstream.dukcapil import DukcapilHttpUpstream
from gateway.usage import UsageCounter
from protocol.messages import MAX_BODY_BYTES

log = logging.getLogger(__name__)
SHUTDOWN_S = 2.0


@dataclass
class RunningGateway:
    """A gateway listening on a port. Its parts are exposed for tests and operations."""

    host: str
    port: int
    config: GatewayConfig
    relay: Relay
    registry: Registry
    store: Store
    usage: UsageCounter
    antiscrape: AntiScrape
    replay: SealedReplay
    _runner: QuietAppRunner
    guard: ConnectionGuard
    _upstream: Upstream
    _access: AccessLog
    _probe: QuietAppRunner | None = None
    probe_port: int | None = None  # the plain-HTTP health listener's port, when configured
    crls: CrlKeeper | None = None  # the CRLs in force (set by start_gateway)
    _closed: bool = False

    @property
    def url(self) -> str:
        """Base URL, e.g. https://127.0.0.1:8443."""
        return f"https://{self.host}:{self.port}"

    def reload_crl(self) -> None:
        """Read the CRL files again (SIGHUP in the CLI)."""
        if self.crls is not None:
            self.crls.load_files()

    async def close(self) -> None:
        """Stop listening, flush usage counts, close the upstream and the store (once)."""
        if self._closed:
            return
        self._closed = True
        if self._probe is not None:
            await self._probe.cleanup()
        self.guard.close()
        await self._runner.cleanup()
        await self._access.close()
        await self.replay.close()
        await self.registry.stop()
        await self.usage.stop()
        await self._upstream.close()
        await self.store.close()


def make_upstream(cfg: UpstreamConfig) -> Upstream:
    """The adapter the config names."""
    ctx = None
    if cfg.ca_file is not None:
        ctx = ssl.create_default_context(cafile=str(cfg.ca_file))
    client = UpstreamClient(
        cfg.url, connections=cfg.connections, timeout_s=cfg.timeout_s, ssl_context=ctx
    )
    return DukcapilHttpUpstream(client)


async def start_gateway(
    config: GatewayConfig,
    *,
    clock: Clock | None = None,
    upstream: Upstream | None = None,
    configure_logging: bool = False,
) -> RunningGateway:
    """Start the gateway in the running loop (server.port 0 picks a free port)."""
    if configure_logging:
        setup_logging(config.logging)
    clock = clock or SystemClock()
    tls = config.tls
    device_ca = load_ca(tls.device_ca, "tls.device_ca")
    admin_ca = load_ca(tls.admin_ca, "tls.admin_ca")
    if device_ca.subject == admin_ca.subject:
        raise ConfigError("tls.admin_ca", "must be a different CA from tls.device_ca")
    ssl_context = server_context(tls)
    peers = PeerIdentifier(device_ca, admin_ca)
    accounts = {
        inst_id: UpstreamAccount(
            inst_id,
            inst.upstream_user,
            read_secret(
                inst.upstream_password_file, f"institutions.{inst_id}.upstream_password_file"
            ),
        )
        for inst_id, inst in config.institutions.items()
    }
    secret_file = config.store.secret_file
    secret = None if secret_file is None else read_key_file(secret_file, "store.secret_file")
    store = make_store(config.store)
    async with contextlib.AsyncExitStack() as undo:
        undo.push_async_callback(store.close)
        await store.open()
        registry = Registry(config, store, frozenset())
        crls = CrlKeeper(tls, ssl_context, registry, device_ca, admin_ca)
        crls.load_files()
        await registry.load()
        registry.start_refresh()
        undo.push_async_callback(registry.stop)
        upstream = upstream or make_upstream(config.upstream)
        undo.push_async_callback(upstream.close)
        usage = UsageCounter(store, config.store.usage_flush_s)
        usage.start()
        undo.push_async_callback(usage.stop)
        antiscrape = AntiScrape(config.antiscrape, clock)
        access = AccessLog(config.logging.access)
        access.open()
        undo.push_async_callback(access.close)
        replay = start_replay(
            store.replay_table(),
            clock,
            secret,
            config.server.replay_window_s,
            hold_s=3 * config.upstream.timeout_s + 1.0,  # the upstream's time, a retry included
            max_entries=config.server.replay_max,
        )
        undo.push_async_callback(replay.close)
        relay = Relay(
            registry,
            store,
            upstream,
            accounts,
            antiscrape,
            replay,
            usage,
            clock,
            access,
        )
        guard = ConnectionGuard(config.server, ssl_context)
        app = web.Application(
            client_max_size=MAX_BODY_BYTES, middlewares=[http_edges, guard.middleware()]
        )
        device_api = DeviceApi(relay, peers, store, access)
        device_api.add_routes(app)
        AdminApi(
            registry, store, usage, peers, clock, read_only=config.tls.read_only_admins, crls=crls
        ).add_routes(app)
        add_fallback(app, {VERIFY: "POST", RETURNS: "POST", HEALTH: "GET", **ADMIN_ROUTES})
        runner = QuietAppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_S,
            auto_decompress=False,
            keepalive_timeout=config.server.idle_timeout_s,
        )
        await runner.setup()
        undo.push_async_callback(runner.cleanup)
        assert runner.server is not None
        port = await guard.start(runner.server)
        undo.callback(guard.close)
        probe, probe_port = None, None
        if config.server.probe_port is not None:
            probe, probe_port = await _start_probe(
                device_api, config.server.probe_host, config.server.probe_port
            )
        undo.pop_all()
    log.info("gateway listening on %s:%d (%s store)", config.server.host, port, config.store.kind)
    return RunningGateway(
        config.server.host,
        port,
        config,
        relay,
        registry,
        store,
        usage,
        antiscrape,
        replay,
        runner,
        guard,
        upstream,
        access,
        probe,
        probe_port,
        crls,
    )


async def _start_probe(api: DeviceApi, host: str, port: int) -> tuple[QuietAppRunner, int]:
    """The plain-HTTP listener for load balancer probes: GET /v1/health and nothing else."""
    app = web.Application(client_max_size=1024, middlewares=[http_edges])
    app.router.add_get(HEALTH, api.probe)
    add_fallback(app, {HEALTH: "GET"})
    runner = QuietAppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_S,
        auto_decompress=False,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    return runner, int(runner.addresses[0][1])
