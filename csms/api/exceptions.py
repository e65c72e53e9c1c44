"""Exceptions of the HTTP API.

::

    ApiError
     ├── Unauthorized            no token, or an unknown, expired or revoked one  (401)
     ├── Forbidden               the role or the site grant does not allow it     (403)
     ├── ResourceNotFound        no such station, job, webhook, ...               (404)
     ├── Conflict                the request clashes with the state               (409)
     └── InvalidField            a value the models accept but the state refuses (422)
          └── IdempotencyMismatch  an Idempotency-Key reused with another body
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "Conflict",
    "Forbidden",
    "IdempotencyMismatch",
    "InvalidField",
    "ResourceNotFound",
    "Unauthorized",
]


class ApiError(Exception):
    """Base class; ``status_code`` is the HTTP status the app answers with."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403


class ResourceNotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class InvalidField(ApiError):
    """Answered as a 422 in FastAPI's validation-error shape, naming the field."""

    status_code = 422

    def __init__(self, loc: tuple[str | int, ...], message: str, *, kind: str = "value_error"):
        super().__init__(message)
        self.loc = loc
        self.kind = kind


class IdempotencyMismatch(InvalidField):
    def __init__(self, key: str) -> None:
        super().__init__(
            ("header", "Idempotency-Key"),
            f"Idempotency-Key {key!r} was already used with a different request",
            kind="idempotency_mismatch",
        )
