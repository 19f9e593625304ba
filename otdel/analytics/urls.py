"""Analytics pages."""

from django.urls import path

from otdel.analytics import views

app_name = "analytics"

urlpatterns = [
    path("analytics/sales/", views.sales_report, name="sales"),
]
