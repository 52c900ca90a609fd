"""The admin app with this project's site (the dashboard on the index) as its default site."""
from django.contrib.admin.apps import AdminConfig


class CreditsAdminConfig(AdminConfig):
    default_site = "credits_project.admin.CreditsAdminSite"
