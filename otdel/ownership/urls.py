"""Ownership pages and actions."""

from django.urls import path

from otdel.ownership import views

app_name = "ownership"

urlpatterns = [
    path("my-base/", views.my_base, name="my_base"),
    path("pool/", views.pool, name="pool"),
    path("clients/<int:client_id>/claim/", views.claim, name="claim"),
    path("clients/<int:client_id>/release/", views.release, name="release"),
    path("clients/<int:client_id>/assign/", views.assign, name="assign"),
    path(
        "clients/<int:client_id>/transfer-request/",
        views.request_transfer,
        name="request_transfer",
    ),
    path("clients/<int:client_id>/lock/", views.lock, name="lock"),
    path("transfers/", views.transfers, name="transfers"),
    path("transfers/<int:transfer_id>/", views.transfer_detail, name="transfer_detail"),
    path("transfers/<int:transfer_id>/answer/", views.transfer_answer, name="transfer_answer"),
    path("transfers/<int:transfer_id>/decide/", views.transfer_decide, name="transfer_decide"),
    path("transfers/<int:transfer_id>/cancel/", views.transfer_cancel, name="transfer_cancel"),
    path("head/", views.head_dashboard, name="head_dashboard"),
    path("head/policy/", views.policy, name="policy"),
    path("head/people/<int:user_id>/cap/", views.set_cap, name="set_cap"),
]
