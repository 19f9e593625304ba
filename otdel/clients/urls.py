"""Client base pages under /clients/ (namespace `clients`)."""

from django.urls import path

from otdel.clients import views

app_name = "clients"

urlpatterns = [
    path("clients/", views.search, name="search"),
    path("clients/new/", views.create, name="create"),
    path("clients/duplicates/", views.duplicate_queue, name="duplicate_queue"),
    path("clients/<int:client_id>/", views.detail, name="detail"),
    path("clients/<int:client_id>/edit/", views.edit, name="edit"),
    path("clients/<int:client_id>/activities/", views.add_activity, name="add_activity"),
    path("clients/<int:client_id>/contacts/new/", views.add_contact, name="add_contact"),
    path(
        "clients/<int:client_id>/contacts/<int:contact_id>/remove/",
        views.remove_contact,
        name="remove_contact",
    ),
    path(
        "clients/<int:client_id>/legal-entities/new/",
        views.add_legal_entity,
        name="add_legal_entity",
    ),
    path("clients/<int:client_id>/duplicates/", views.duplicates, name="duplicates"),
    path("clients/<int:client_id>/merge/<int:other_id>/", views.merge, name="merge"),
]
