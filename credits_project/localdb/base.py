"""Django's PostgreSQL backend for the embedded server: the first connection of a process
starts the server if needed and holds it until the process exits (see `credits_project.localdb`)."""
from django.db.backends.postgresql import base

from . import LocalServer


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        LocalServer(self.settings_dict["LOCALDB_DIR"]).hold()
        return super().get_new_connection(conn_params)
