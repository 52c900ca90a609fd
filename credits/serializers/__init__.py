"""Request validation and documented answer shapes of the credits API."""
