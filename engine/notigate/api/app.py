"""``create_app()``: the Litestar application around one ``Gateway``."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path

import swagger_ui_bundle
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from notigate.api.admin import reload_config
from notigate.api.callbacks import receive_callback
from notigate.api.deliveries import DeliveriesController
from notigate.api.deps import provide_gateway
from notigate.api.endpoints import EndpointsController
from notigate.api.errors import HANDLERS
from notigate.api.latency import latency_middleware
from notigate.api.notifications import NotificationsController
from notigate.api.reports import report_error
from notigate.api.silences import SilencesController
from notigate.api.system import list_destinations, list_plugins, live, metrics, ready
from notigate.app.gateway import Gateway

ASSETS = "/api/docs/assets"
_SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)


def create_app(gateway: Gateway, *, run_deliveries: bool | None = None, auto_migrate: bool = False) -> Litestar:
    """The API around ``gateway``; it starts and stops with the app's lifespan.

    ``run_deliveries`` defaults to True on the in-process queue (the embedded default):
    the API process then also delivers, with the outbox sweep.
    """
    deliver = gateway.in_process if run_deliveries is None else run_deliveries

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await gateway.start(run_deliveries=deliver, auto_migrate=auto_migrate)
        gc.freeze()  # start-up objects never change: keep them out of every later collection
        try:
            yield
        finally:
            await gateway.close()

    openapi = OpenAPIConfig(
        title="Notigate",
        version="0.1.0",
        description="Notification gateway for payment platforms.",
        path="/api",
        render_plugins=[
            SwaggerRenderPlugin(
                path="/docs",
                js_url=f"{ASSETS}/swagger-ui-bundle.js",
                css_url=f"{ASSETS}/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
            )
        ],
        components=Components(
            security_schemes={
                "BearerKey": SecurityScheme(type="http", scheme="bearer", description="API key as a bearer token"),
                "HeaderKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
            }
        ),
    )
    return Litestar(
        route_handlers=[
            receive_callback,
            report_error,
            NotificationsController,
            DeliveriesController,
            EndpointsController,
            SilencesController,
            reload_config,
            list_plugins,
            list_destinations,
            live,
            ready,
            metrics,
            create_static_files_router(path=ASSETS, directories=[_SWAGGER_DIR], include_in_schema=False),
        ],
        dependencies={"gateway": Provide(provide_gateway, sync_to_thread=False)},
        state=State({"gateway": gateway}),
        lifespan=[lifespan],
        openapi_config=openapi,
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
        middleware=[latency_middleware],
        request_max_body_size=gateway.settings.server.max_body_size,
        logging_config=None,  # the process's one log format is set up by ``notigate.logs``
    )
