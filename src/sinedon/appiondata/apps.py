from django.apps import AppConfig


class AppionDataConfig(AppConfig):
    name = "sinedon.appiondata"
    label = "appiondata"
    default_auto_field = "django.db.models.BigAutoField"
