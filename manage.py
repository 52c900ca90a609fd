#!/usr/bin/env python
"""Django's command-line utility for the credits service."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "credits_project.settings")
    from django.core.management import execute_from_command_line

    from credits_project.localdb import LocalDbError

    try:
        execute_from_command_line(sys.argv)
    except LocalDbError as exc:  # the embedded database could not start: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
