"""The Celery app: tasks are discovered in the Django apps, the schedule lives in the database."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "credits_project.settings")

app = Celery("credits_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
