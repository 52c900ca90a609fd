"""The test database as a DATABASE_URL, for the subprocesses a test starts (a worker, a killed
run): pytest-django renamed it, and it may be reached by a Unix socket (the embedded server)."""
from urllib.parse import quote, urlencode

from django.db import connection


def subprocess_database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    # A socket folder comes as HOST, or in OPTIONS when the URL gave it as ?host=…
    host = db["HOST"] or db["OPTIONS"].get("host") or "localhost"
    port = str(db["PORT"] or db["OPTIONS"].get("port") or 5432)
    if host.startswith("/"):  # a socket folder: libpq takes it as a query parameter
        return f"postgres://{credentials}@/{db['NAME']}?{urlencode({'host': host, 'port': port})}"
    return f"postgres://{credentials}@{host}:{port}/{db['NAME']}"
