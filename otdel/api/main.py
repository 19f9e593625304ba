"""The otdel REST API (django-ninja): token auth, errors as JSON with stable codes."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.operation import Operation

from otdel.api import (
    analytics,
    calls,
    clients,
    errors,
    floors,
    imports,
    inbound,
    money,
    ownership,
    planning,
    proposals,
    sales,
    tenders,
)
from otdel.api.auth import AUTH, viewer
from otdel.api.errors import COMMON
from otdel.api.ownership import cap_out
from otdel.api.schemas import MeOut


class OtdelAPI(NinjaAPI):
    """Operation ids are the view names (`claim_client`), readable in generated clients."""

    def get_openapi_operation_id(self, operation: Operation) -> str:
        return operation.view_func.__name__


api = OtdelAPI(
    title="otdel API",
    version="1",
    urls_namespace="api",
    auth=AUTH,
    description=(
        "The client base, ownership and the pool. Authenticate with a personal token "
        "(`Authorization: Bearer <token>`) or the browser session (unsafe methods need the "
        "CSRF token). Errors are JSON `{code, message, details}`; `code` is stable. Messages "
        "follow `Accept-Language` (Russian by default)."
    ),
)
errors.install(api)
api.add_router("", clients.router)
api.add_router("", ownership.router)
api.add_router("", imports.router)
api.add_router("", calls.router)
api.add_router("", planning.router)
api.add_router("", sales.router)
api.add_router("", money.router)
api.add_router("", floors.router)
api.add_router("", proposals.router)
api.add_router("", tenders.router)
api.add_router("", analytics.router)
api.add_router("", inbound.router)
api.add_router("", inbound.public)


@api.get("/me", response={200: MeOut, **COMMON}, tags=["people"])
def me(request: HttpRequest) -> MeOut:
    """Who I am, and how full my base is."""
    user = viewer(request)
    return MeOut(
        id=user.pk,
        username=user.username,
        name=user.display_name,
        role=user.role,
        team_id=user.team_id,
        is_head_of_sales=user.is_head_of_sales,
        owns_clients=user.owns_clients,
        cap=cap_out(user) if user.owns_clients else None,
    )
