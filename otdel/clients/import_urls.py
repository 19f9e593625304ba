"""The import wizard's pages: upload, mapping, preview, status with a live progress bar."""

from django.urls import path

from otdel.clients import import_views as views

app_name = "clients_import"

urlpatterns = [
    path("import/", views.start, name="start"),
    path("import/<int:job_id>/mapping/", views.mapping, name="mapping"),
    path("import/<int:job_id>/preview/", views.preview, name="preview"),
    path("import/<int:job_id>/", views.status, name="status"),
    path("import/<int:job_id>/progress/", views.progress, name="progress"),
    path("import/<int:job_id>/checking/", views.checking, name="checking"),
]
