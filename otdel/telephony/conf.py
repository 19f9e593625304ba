"""Telephony settings: from Django settings (tests) or the environment (deployments)."""

from __future__ import annotations

import datetime as dt
import os
import re

from django.conf import settings


def setting(name: str, default: str = "") -> str:
    """A setting from Django settings (tests) or the environment (deployments)."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return str(value)


def int_setting(name: str, default: int) -> int:
    """A whole-number setting; an unreadable value falls back to the default."""
    try:
        return int(setting(name, str(default)))
    except ValueError:
        return default


def env_key(source: str) -> str:
    """A source as it appears in setting names: upper case, anything else than A-Z0-9 → '_'."""
    return re.sub(r"[^A-Z0-9]", "_", source.upper())


def max_age() -> dt.timedelta:
    """How far from now (past or future) a webhook event may be before it is refused as stale."""
    return dt.timedelta(seconds=int_setting("OTDEL_WEBHOOK_MAX_AGE_SECONDS", 900))


def longest_call() -> dt.timedelta:
    """The longest call we expect; bounds how old a call's start may be when its end arrives."""
    return dt.timedelta(seconds=int_setting("OTDEL_ZADARMA_MAX_CALL_SECONDS", 4 * 3600))
