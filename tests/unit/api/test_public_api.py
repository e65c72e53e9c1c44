from __future__ import annotations

import csms.api


def test_public_api() -> None:
    assert csms.api.__all__ == [
        "API_PREFIX",
        "ApiError",
        "ApiRepository",
        "ApiServer",
        "ApiServices",
        "ApiToken",
        "Conflict",
        "Forbidden",
        "IdempotencyMismatch",
        "InvalidField",
        "MemoryApiRepository",
        "Permission",
        "Principal",
        "ResourceNotFound",
        "Role",
        "TokenService",
        "Unauthorized",
        "create_app",
        "open_repository",
    ]
    for name in csms.api.__all__:
        assert getattr(csms.api, name) is not None
