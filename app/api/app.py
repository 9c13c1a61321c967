"""The Litestar application factory: `create_app(settings)`; no import-time globals."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.prometheus import PrometheusController

from app import __version__
from app.api import openapi
from app.api.apidocs import SwaggerUI
from app.api.checkpointing import keep_signing, sign_now
from app.api.edge.hygiene import Hygiene, public_routes
from app.api.edge.metrics_share import SharedMetrics, install
from app.api.edge.middleware import Edge
from app.api.edge.overload import InFlight
from app.api.problems import exception_handlers
from app.api.routes import batch, citizen_app, citizens, public, sources, verifiers
from app.api.routes.dev_idp import dev_idp_router, open_dev_idp
from app.api.state import Services, build_services
from app.config import Settings
from app.domain.ports import Clock, Store
from app.storage import check_durability, open_store
from app.web import web_app_handlers

__all__ = ["create_app"]

log = logging.getLogger("statuspass")
#: The cycle collector's thresholds in a worker (Python's default: 700, 10, 10). A
#: request keeps a few hundred tracked objects alive while it runs, and almost all of
#: them are freed by reference counting when it ends. With the default threshold, the
#: requests in flight alone crossed it, so the collector ran 50 times a second under
#: load and found next to nothing: 3% of a worker's CPU, with full collections of 40-45 ms
#: during which the worker answered nobody (gc.callbacks, bench/stores.py issuance at
#: 2 workers). At 10,000 the same run triggers no collection at all; cyclic garbage, if
#: any, is still collected once 10,000 more objects are alive than before.
GC_THRESHOLDS = (10_000, 20, 20)


class _Metrics(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def create_app(
    settings: Settings, *, store: Store | None = None, clock: Clock | None = None
) -> Litestar:
    """Build the ASGI app. The store is opened at start-up (unless one is given) and the
    keys are loaded then too: a bad key or an unreachable config stops start-up."""

    # several workers answer /metrics with the sums of all their counts
    shared = SharedMetrics(Path(settings.metrics_dir)) if settings.metrics_dir else None
    if shared is not None:
        install(shared)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        own = store is None
        the_store = store or await open_store(
            settings.store_url, timeout_s=settings.store_timeout_s, production=settings.production
        )
        try:
            # refuse (production) or warn (development) on settings that can lose or
            # evict acknowledged writes
            await check_durability(the_store, production=settings.production)
            services: Services = build_services(settings, the_store, clock=clock)
            app.state.services = services
            if settings.dev_idp:
                app.state.dev_idp = open_dev_idp(settings)
            log.info(
                "statuspass %s ready: issuer %s, env %s, active key %s",
                __version__,
                settings.issuer,
                settings.env,
                services.keys.signing_key().kid,
            )
            # Everything built so far (modules, routes, keys, registry) lives as long as
            # the worker: out of the collector's sight, a full collection no longer walks
            # it, which shortens the pauses that make up the slowest requests.
            gc.collect()
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
            writer = asyncio.create_task(shared.keep_writing()) if shared else None
            signer = asyncio.create_task(keep_signing(services))
            try:
                yield
            finally:
                for task in (writer, signer):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                # what this worker appended is covered by a signature before it stops
                await sign_now(services)
        finally:
            if getattr(app.state, "dev_idp", None) is not None:
                app.state.dev_idp.codes.close()
            if own:
                await the_store.close()

    handlers: list[Any] = [
        public.jwks,
        public.audit_key,
        public.issuer_metadata,
        public.status_list_index,
        public.status_list,
        public.health,
        public.ready,
        sources.upsert,
        batch.batch,
        *sources.change_status,
        citizens.my_entitlements,
        citizens.my_proof,
        citizens.my_verifications,
        verifiers.verify,
        verifiers.check_card,
        verifiers.whoami,
        citizen_app.citizen_app_config,
        _Metrics,
        *web_app_handlers(connect={"citizen": citizen_app.citizen_connect_src(settings)}),
    ]
    if settings.dev_idp:  # never in production: load_settings refuses the combination
        handlers.append(dev_idp_router())
    app = Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        exception_handlers=exception_handlers,
        state=State({}),
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="Statuspass",
            version=__version__,
            description="Signed status proofs, status lists and online verification.",
            path="/schema",
            # the UI served from the service itself (app.api.apidocs), never from a CDN
            render_plugins=[SwaggerUI(), JsonRenderPlugin()],
            components=openapi.security_schemes(),
        ),
        debug=False,
    )
    # what Litestar cannot infer (the batch endpoint, Retry-After): built once, here
    openapi.complete(app.openapi_schema)
    # One layer around routing for every request (see app.api.edge.middleware for the why): shed
    # load before any other work is spent on a request, time and count the rest.
    app.asgi_handler = Edge(
        app.asgi_handler, InFlight(settings.max_in_flight), Hygiene(public_routes(app))
    )
    return app
