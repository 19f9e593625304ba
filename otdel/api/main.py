"""The otdel REST API (django-ninja): token auth, errors as JSON with stable codes."""

from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(title="otdel API", version="1", urls_namespace="api")
