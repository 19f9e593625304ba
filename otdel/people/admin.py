from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from otdel.people.models import Team, User


@admin.register(User)
class OtdelUserAdmin(UserAdmin):
    fieldsets = (
        *UserAdmin.fieldsets,
        ("otdel", {"fields": ("role", "team", "patronymic", "client_cap", "timezone", "language")}),
    )
    list_display = ("username", "last_name", "first_name", "role", "team", "is_active")
    list_filter = ("role", "team", "is_active")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name",)
