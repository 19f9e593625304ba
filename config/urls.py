"""URL map: pages per app, the API under /api/, language switching."""

from django.contrib import admin
from django.urls import include, path

from otdel.api.main import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", api.urls),
    path("hooks/telephony/", include("otdel.telephony.urls")),
    path("", include("otdel.people.urls")),
    path("", include("otdel.clients.urls")),
    path("", include("otdel.clients.import_urls")),
    path("", include("otdel.ownership.urls")),
    path("", include("otdel.activities.urls")),
    path("", include("otdel.telephony.urls_ui")),
    path("", include("otdel.planning.urls")),
    path("", include("otdel.sales.urls")),
    path("", include("otdel.inbound.urls")),
    path("", include("otdel.analytics.urls")),
]
