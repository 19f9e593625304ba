from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "otdel.core"
    label = "core"
