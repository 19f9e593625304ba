"""Call pages: the log, the post-call card, unknown callers, the effective-call policy."""

from django.urls import path

from otdel.activities import views

app_name = "activities"

urlpatterns = [
    path("calls/", views.call_log, name="call_log"),
    path("calls/<int:call_id>/card/", views.call_card, name="call_card"),
    path("calls/unknown/", views.unknown_callers, name="unknown_callers"),
    path("calls/unknown/clients/", views.unknown_client_choices, name="unknown_client_choices"),
    path("calls/unknown/resolve/", views.unknown_resolve, name="unknown_resolve"),
    path("head/call-policy/", views.call_policy, name="call_policy"),
]
