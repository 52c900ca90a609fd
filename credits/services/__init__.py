"""Functions that write: ledger movements, resource registration, token balances."""
