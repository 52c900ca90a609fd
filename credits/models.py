"""Accounts, the credit ledger, resources and the lifecycle (built in later issues)."""
