"""The floor for list benchmarks: a bare WSGI app that runs one SQL query with psycopg and
writes the rows with orjson (jsonb parsed by orjson too). No framework, no auth; what any Python server must at least spend
to answer the same rows. Configured by environment: BENCH_DATABASE_URL and BENCH_FLOOR_SQL
(one ``%s`` parameter, taken from the query string's ``p``); BENCH_FLOOR_NAMES names the
columns on the wire (comma-separated).
"""

import os
from urllib.parse import parse_qs

import orjson
import psycopg
from psycopg.types.json import set_json_loads

_conn = None


def _connection():
    global _conn
    if _conn is None or _conn.closed:
        _conn = psycopg.connect(os.environ["BENCH_DATABASE_URL"], autocommit=True)
        set_json_loads(orjson.loads, _conn)  # the fastest jsonb parsing on offer
    return _conn


def application(environ, start_response):
    sql = os.environ.get("BENCH_FLOOR_SQL")
    if not sql or environ.get("PATH_INFO") != "/rows":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"floor"]
    names = os.environ["BENCH_FLOOR_NAMES"].split(",")
    param = parse_qs(environ.get("QUERY_STRING", "")).get("p", [""])[0]
    rows = _connection().execute(sql, (param,)).fetchall()
    body = orjson.dumps(
        {"next": None, "results": [dict(zip(names, row, strict=True)) for row in rows]}
    )
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
