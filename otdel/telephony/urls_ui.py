"""Click-to-call pages, included at the root: /calls/dial/…"""

from django.urls import path

from otdel.telephony import views

app_name = "telephony_ui"

urlpatterns = [
    path("calls/dial/<int:contact_phone_id>/", views.dial, name="dial"),
    path("calls/dial/<str:request_id>/", views.dial_page, name="dial_page"),
    path("calls/dial/<str:request_id>/status/", views.dial_status, name="dial_status"),
]
