"""Thin DRF views of the credits API, one module per concern."""
