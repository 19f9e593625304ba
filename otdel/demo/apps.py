from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "otdel.demo"
    label = "demo"
