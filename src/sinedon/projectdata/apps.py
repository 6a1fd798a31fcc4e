from django.apps import AppConfig


class ProjectDataConfig(AppConfig):
    name = "sinedon.projectdata"
    label = "projectdata"
    default_auto_field = "django.db.models.BigAutoField"
