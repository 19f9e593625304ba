"""Addresses cloud phone systems post call events to: /hooks/telephony/<provider>/<source>/."""

from django.urls import re_path

from otdel.telephony import webhooks

app_name = "telephony"

# The trailing slash is optional: phone systems post to the address as typed into their settings
# and do not follow redirects (APPEND_SLASH would answer a POST with a 301).
_SOURCE = r"(?P<source>[A-Za-z0-9_-]{1,48})"

urlpatterns = [
    # Mango appends the event's path (events/call, events/summary, …) to the configured address.
    re_path(rf"^mango/{_SOURCE}/?$", webhooks.mango_event, name="mango"),
    re_path(
        rf"^mango/{_SOURCE}/+(?P<event>[a-z0-9_/]{{1,64}})/?$",
        webhooks.mango_event,
        name="mango-event",
    ),
    re_path(rf"^zadarma/{_SOURCE}/?$", webhooks.zadarma_event, name="zadarma"),
    re_path(rf"^generic/{_SOURCE}/?$", webhooks.generic_event, name="generic"),
]
