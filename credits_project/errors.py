"""Domain errors that know how the API reports them (status, machine code, details)."""


class DomainError(Exception):
    """Raised by services and selectors; the API turns it into the shared error shape."""

    status_code = 400
    code = "invalid_request"
    # The challenge of a 401 (its WWW-Authenticate header), None for other statuses.
    www_authenticate: str | None = None

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def error_fields(self) -> dict:
        """The error as the API writes it inside `{"error": ...}`: code, message, details."""
        return {"code": self.code, "message": self.message, "details": self.details}
