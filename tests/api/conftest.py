"""Calling the API as a person: a Django test client that sends his personal token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client as HttpClient

from otdel.people.models import User
from otdel.people.services import issue_api_token


class Api:
    """The API as one caller sees it: with a token (or anonymous when there is none)."""

    def __init__(self, token: str | None = None, *, language: str | None = None):
        self.http = HttpClient()
        self.headers: dict[str, str] = {}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        if language:
            self.headers["Accept-Language"] = language

    def call(self, method: str, path: str, data: Any = None) -> Any:
        kwargs: dict[str, Any] = {"headers": self.headers}
        if data is not None:
            kwargs["data"] = json.dumps(data)
            kwargs["content_type"] = "application/json"
        response = getattr(self.http, method.lower())(path, **kwargs)
        is_json = response.get("Content-Type", "").startswith("application/json")
        response.data = json.loads(response.content) if is_json and response.content else None
        return response

    def get(self, path: str) -> Any:
        return self.call("get", path)

    def post(self, path: str, data: Any = None) -> Any:
        return self.call("post", path, data if data is not None else {})

    def patch(self, path: str, data: Any) -> Any:
        return self.call("patch", path, data)

    def delete(self, path: str) -> Any:
        return self.call("delete", path)


@pytest.fixture
def api_as():
    """api_as(user) → an Api with a fresh personal token; api_as(None) → anonymous."""

    def make(user: User | None, *, language: str | None = None) -> Api:
        if user is None:
            return Api(language=language)
        _, secret = issue_api_token(user, name="tests")
        return Api(secret, language=language)

    return make
