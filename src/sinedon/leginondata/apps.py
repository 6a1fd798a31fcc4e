from django.apps import AppConfig


class LeginonDataConfig(AppConfig):
    name = "sinedon.leginondata"
    label = "leginondata"
    default_auto_field = "django.db.models.BigAutoField"
