"""Placeholder: being written (imported at the end of credits/admin.py)."""
