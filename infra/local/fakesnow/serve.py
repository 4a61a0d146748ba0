"""Run fakesnow's Snowflake-emulating HTTP server for the local stack.

Why not just `fakesnow -s -p PORT`?

* fakesnow answers every SELECT in Arrow format (`queryResultFormat: arrow`,
  `rowsetBase64`). The Python connector and JDBC read Arrow, but the Node.js
  `snowflake-sdk` only reads Snowflake's JSON result format and fails on an
  Arrow result ("Cannot read properties of undefined (reading 'length')"), and
  it never completes a statement whose JSON result lacks "returned" (fakesnow's
  DML results do).
  This wrapper re-encodes Arrow results as Snowflake JSON rowsets for clients
  that cannot read Arrow (by default: sessions whose login says
  CLIENT_APP_ID=JavaScript; FAKESNOW_RESULT_FORMAT=json forces it for every
  session, =arrow disables it).
* `fakesnow -s` stops only on SIGINT; uvicorn run in the main thread here stops
  cleanly on SIGTERM too, which is what `infra/local/stack down` sends.
* GET /healthz answers 200 for the launcher's health check.

Usage: python serve.py --host 127.0.0.1 --port 18085
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import logging
import os
from decimal import Decimal
from typing import Any

import pyarrow as pa
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

import fakesnow.server as fs_server

log = logging.getLogger("stack.fakesnow")

# session token -> True when that session's client wants JSON results
_json_sessions: dict[str, bool] = {}

# Snowflake's defaults for the output-format session parameters
_OUTPUT_FORMATS = {
    "BINARY_OUTPUT_FORMAT": "HEX",
    "DATE_OUTPUT_FORMAT": "YYYY-MM-DD",
    "TIME_OUTPUT_FORMAT": "HH24:MI:SS",
    "TIMESTAMP_OUTPUT_FORMAT": "YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM",
    "TIMESTAMP_NTZ_OUTPUT_FORMAT": "",
    "TIMESTAMP_LTZ_OUTPUT_FORMAT": "",
    "TIMESTAMP_TZ_OUTPUT_FORMAT": "",
    "TIMEZONE": "Etc/UTC",
}

# Clients known to read Arrow results; every other client gets JSON in "auto" mode.
_ARROW_CLIENTS = {"PythonConnector", "JDBC", "Go", "ODBC", "SnowparkPythonAPI"}


def _result_mode() -> str:
    mode = os.environ.get("FAKESNOW_RESULT_FORMAT", "auto").lower()
    return mode if mode in {"auto", "json", "arrow"} else "auto"


def _wants_json(client_app_id: str | None) -> bool:
    mode = _result_mode()
    if mode == "json":
        return True
    if mode == "arrow":
        return False
    return client_app_id not in _ARROW_CLIENTS


async def _json_body(request: Request) -> Any:
    body = await request.body()  # starlette caches the body, so the wrapped endpoint can read it too
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body) if body else {}


def _token(request: Request) -> str | None:
    auth = request.headers.get("Authorization")
    # format: Snowflake Token="<token>"
    return auth[17:-1] if auth else None


async def login_request(request: Request) -> Response:
    body = await _json_body(request)
    client_app_id = (body.get("data") or {}).get("CLIENT_APP_ID")
    response = await fs_server.login_request(request)
    payload = json.loads(bytes(response.body))
    token = (payload.get("data") or {}).get("token")
    if token:
        _json_sessions[token] = _wants_json(client_app_id)
    return response


async def query_request(request: Request) -> Response:
    response = await fs_server.query_request(request)
    token = _token(request)
    if not token or not _json_sessions.get(token):
        return response
    payload = json.loads(bytes(response.body))
    data = payload.get("data")
    if not isinstance(data, dict) or data.get("queryResultFormat") not in {"arrow", "json"}:
        return response
    if data["queryResultFormat"] == "arrow":
        try:
            data["rowset"] = _arrow_to_rowset(data.pop("rowsetBase64", ""), data.get("rowtype") or [])
        except Exception as e:  # answer, rather than leave the client retrying a 500
            log.exception("could not re-encode an Arrow result as JSON")
            return JSONResponse(
                {"data": None, "code": "261000", "success": False, "headers": None,
                 "message": f"infra/local/fakesnow/serve.py: Arrow->JSON result conversion failed: {e!r}"},
            )
        data["queryResultFormat"] = "json"
    # the Node.js driver counts rows from "returned" (fakesnow leaves it out); without it a
    # statement's callback never fires. "version" selects the "secs.frac tz" TIMESTAMP_TZ form.
    data["returned"] = len(data.get("rowset") or [])
    data.setdefault("version", 1)
    # the Node.js driver formats dates/times/binaries with these session parameters, which
    # Snowflake sends with every result and fakesnow does not (it sends only TIMEZONE)
    params = data.setdefault("parameters", [])
    present = {p.get("name") for p in params}
    params.extend({"name": k, "value": v} for k, v in _OUTPUT_FORMATS.items() if k not in present)
    return JSONResponse(payload, status_code=response.status_code)


async def session(request: Request) -> Response:
    token = _token(request)
    response = await fs_server.session(request)
    if token and request.query_params.get("delete"):
        _json_sessions.pop(token, None)
    return response


async def healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


# --- Arrow (as fakesnow encodes it) -> Snowflake JSON rowset strings -------------------------


def _arrow_to_rowset(b64: str, rowtype: list[dict[str, Any]]) -> list[list[str | None]]:
    if not b64:
        return []
    table = pa.ipc.open_stream(base64.b64decode(b64)).read_all()
    columns: list[list[str | None]] = []
    for i, column in enumerate(table.columns):
        meta = rowtype[i] if i < len(rowtype) else {}
        sf_type = str(meta.get("type") or "text").upper()
        scale = int(meta.get("scale") or 0)
        columns.append([_encode(v, sf_type, scale) for v in column.to_pylist()])
    return [list(row) for row in zip(*columns)] if columns else []


def _fraction(nanos: int, scale: int) -> str:
    digits = f"{nanos:09d}"[: scale if scale > 0 else 0]
    return f".{digits}" if digits else ""


def _encode(value: Any, sf_type: str, scale: int) -> str | None:
    """One value in the string form Snowflake's JSON result format uses for sf_type."""
    if value is None:
        return None
    if sf_type == "BOOLEAN":
        return "1" if value else "0"
    if sf_type == "DATE":
        # days since the epoch; pyarrow gives a datetime.date
        return str(value.toordinal() - 719163) if hasattr(value, "toordinal") else str(value)
    if sf_type == "TIME":
        # fakesnow sends nanoseconds since midnight
        nanos = int(value)
        return f"{nanos // 1_000_000_000}{_fraction(nanos % 1_000_000_000, scale or 9)}"
    if sf_type in {"TIMESTAMP_NTZ", "TIMESTAMP_LTZ", "TIMESTAMP_TZ"} and isinstance(value, dict):
        if value.get("epoch") is None:
            return None  # fakesnow marks a NULL timestamp in the struct's fields
        text = f"{value['epoch']}{_fraction(int(value['fraction']), scale or 9)}"
        if sf_type == "TIMESTAMP_TZ":
            text += f" {value.get('timezone', 1440)}"
        return text
    if sf_type == "BINARY" and isinstance(value, (bytes, bytearray)):
        return bytes(value).hex().upper()
    if sf_type in {"VARIANT", "OBJECT", "ARRAY"} and not isinstance(value, str):
        return json.dumps(value, default=str)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex().upper()
    return str(value)


def build_app() -> Starlette:
    overrides = {
        "/session/v1/login-request": login_request,
        "/queries/v1/query-request": query_request,
        "/session": session,
    }
    routes = [Route("/healthz", healthz, methods=["GET"])]
    for route in fs_server.routes:
        endpoint = overrides.get(route.path, route.endpoint)
        routes.append(Route(route.path, endpoint, methods=list(route.methods or [])))
    return Starlette(routes=routes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18085)
    args = parser.parse_args()
    uvicorn.run(build_app(), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
