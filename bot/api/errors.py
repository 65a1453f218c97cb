"""The API's one error shape: {"error": {"code", "message", "fields"?}}.

Handlers raise ApiError; the guard in bot/api/guard.py turns it, and anything else that goes
wrong, into this shape, so a client never sees a stack trace or a bare HTML page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid field: `customer.phone`, `items[0].quantity`, `Idempotency-Key`."""

    field: str
    message: str


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Sequence[Problem] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = tuple(fields)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.fields, self.headers)


def invalid(problems: Sequence[Problem]) -> ApiError:
    names = ", ".join(dict.fromkeys(p.field for p in problems))
    return ApiError(422, "invalid", f"Invalid fields: {names}.", problems)


def error_response(
    status: int,
    code: str,
    message: str,
    fields: Sequence[Problem] = (),
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = [{"field": p.field, "message": p.message} for p in fields]
    return web.json_response({"error": error}, status=status, headers=headers)
