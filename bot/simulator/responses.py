"""How the simulator answers: JSON bodies and EvoLink's error shape, per route and status.

Every answer is JSON, errors and unknown routes included (EvoLink's own clients parse the body
before they look at the status); only a gateway fault answers an HTML page, as nginx would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

# HTTP error bodies per route, as documented (create and query columns of the error table).
CREATE_CODES: Final[Mapping[int, str]] = {
    400: "invalid_request",
    401: "unauthorized",
    402: "insufficient_quota",
    403: "model_access_denied",
    404: "not_found",
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
QUERY_CODES: Final[Mapping[int, str]] = {
    400: "invalid_task_id",
    401: "unauthorized",
    402: "quota_exceeded",
    403: "permission_denied",
    404: "task_not_found",
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
ERROR_TYPES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "api_error",
}
ERROR_MESSAGES: Final[Mapping[str, str]] = {
    "invalid_request": "Invalid request.",
    "invalid_task_id": "Invalid task id.",
    "unauthorized": "Invalid or expired token.",
    "insufficient_quota": "Insufficient quota. Please top up your account.",
    "quota_exceeded": "Quota exceeded. Please top up your account.",
    "model_access_denied": "This API key cannot use this model.",
    "permission_denied": "Permission denied.",
    "task_not_found": "Task not found.",
    "not_found": "Not found.",
    "rate_limit_exceeded": "Rate limit exceeded. Please slow down and retry later.",
    "internal_error": "Internal server error. Please retry later.",
    "bad_gateway": "Bad gateway.",
    "service_unavailable": "Service temporarily unavailable.",
    "gateway_timeout": "Gateway timeout.",
}
GATEWAY_TITLES: Final[Mapping[int, str]] = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(data, ensure_ascii=False),
        content_type="application/json",
        headers=dict(headers) if headers else None,
    )


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    param: str | None = None,
    error_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """EvoLink's error body: ``{"error": {"code", "message", "type"[, "param"]}}``."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "type": error_type or ERROR_TYPES.get(status, "api_error"),
    }
    if param is not None:
        error["param"] = param
    return json_response({"error": error}, status, headers)


def route_error(
    route: str,
    status: int,
    *,
    code: str | None = None,
    message: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The documented error of ``route`` for ``status`` (the create column for create, else the
    query column), unless ``code``/``message`` say otherwise."""
    codes = CREATE_CODES if route == "create" else QUERY_CODES
    code = code or codes.get(status, f"http_{status}")
    message = message or ERROR_MESSAGES.get(code, f"Simulated HTTP {status} error.")
    return error_response(status, code, message, headers=headers)


def gateway_page(status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    """The HTML page a gateway in front of the API answers (a body that is not JSON)."""
    title = GATEWAY_TITLES.get(status, f"{status} Error")
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return web.Response(
        status=status,
        text=page,
        content_type="text/html",
        headers=dict(headers) if headers else None,
    )
