"""Forms for the people pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class TokenForm(forms.Form):
    """Name a new API token (e.g. the script or integration that will use it)."""

    name = forms.CharField(
        label=_("Token name"),
        max_length=100,
        help_text=_("What will use it, e.g. «1C exchange» or «my script»."),
    )
