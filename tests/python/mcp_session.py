"""One MCP session over streamable HTTP with the official MCP Python SDK.

Used by tests/serve_clients.rs, against `arazzo serve` directly and through
MCP Composer. Usage:

    python mcp_session.py URL CALLS_JSON

CALLS_JSON is a JSON array of {"name": TOOL, "arguments": {...}}, called in
order after `initialize` and `tools/list`. An argument written
{"$output": [I, "field"]} is replaced by that field of the structured content
of call I (0-based), so that a call can use what an earlier one created. When the environment variable
MCP_BEARER_TOKEN is set, every request carries `Authorization: Bearer` with
it. The script prints one JSON object on stdout:

    {"server": {"name", "version"}, "protocolVersion",
     "tools": [{"name", "annotations", "inputSchema"}],
     "calls": [{"name", "isError", "structuredContent", "text"}]}

or, when the session could not be opened, {"error": {"type", "message",
"status"}} (the HTTP status when the server refused a request) with exit
code 3.
"""

import asyncio
import json
import os
import sys

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def http_status(exc):
    """The HTTP status of the first httpx.HTTPStatusError inside exc, if any."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    for inner in getattr(exc, "exceptions", ()) or ():
        status = http_status(inner)
        if status is not None:
            return status
    for inner in (exc.__cause__, exc.__context__):
        if inner is not None and inner is not exc:
            status = http_status(inner)
            if status is not None:
                return status
    return None


def leaf(exc):
    """The first exception that is not a group, for the message."""
    while getattr(exc, "exceptions", None):
        exc = exc.exceptions[0]
    return exc


def resolve(value, done):
    """Replace {"$output": [i, field]} in value with done[i]'s output field."""
    if isinstance(value, dict):
        if set(value) == {"$output"}:
            index, field = value["$output"]
            return (done[index]["structuredContent"] or {})[field]
        return {k: resolve(v, done) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, done) for v in value]
    return value


def content_text(result):
    return "".join(
        getattr(block, "text", "") for block in result.content if block.type == "text"
    )


async def session(url, calls):
    headers = {}
    token = os.environ.get("MCP_BEARER_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    out = {}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write, _):
            async with ClientSession(read, write) as client:
                init = await client.initialize()
                out["server"] = {
                    "name": init.serverInfo.name,
                    "version": init.serverInfo.version,
                }
                out["protocolVersion"] = init.protocolVersion
                tools = []
                cursor = None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.nextCursor
                    if not cursor:
                        break
                out["tools"] = [
                    {
                        "name": t.name,
                        "annotations": (
                            t.annotations.model_dump(exclude_none=True)
                            if t.annotations
                            else None
                        ),
                        "inputSchema": t.inputSchema,
                    }
                    for t in tools
                ]
                out["calls"] = []
                for call in calls:
                    arguments = resolve(call.get("arguments") or {}, out["calls"])
                    result = await client.call_tool(call["name"], arguments)
                    out["calls"].append(
                        {
                            "name": call["name"],
                            "isError": bool(result.isError),
                            "structuredContent": result.structuredContent,
                            "text": content_text(result),
                        }
                    )
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: mcp_session.py URL CALLS_JSON")
    url, calls = sys.argv[1], json.loads(sys.argv[2])
    try:
        out = asyncio.run(session(url, calls))
    except BaseException as exc:  # noqa: BLE001 - reported to the test as JSON
        if isinstance(exc, KeyboardInterrupt):
            raise
        first = leaf(exc)
        print(
            json.dumps(
                {
                    "error": {
                        "type": type(first).__name__,
                        "message": str(first),
                        "status": http_status(exc),
                    }
                }
            )
        )
        sys.exit(3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
