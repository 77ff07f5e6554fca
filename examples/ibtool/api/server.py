#!/usr/bin/env python3
"""IBTool's REST API and its static front end, on the standard library alone.

Complaints live in PostgreSQL (through `psql`, with psql variables, never string-built SQL);
Redis (spoken to in RESP over a socket) counts them for the front page. GET /health answers
`ok` only when both answer, so the probe sees the whole service.

Configuration comes from the environment: API_PORT, DB_URL, REDIS_HOST, REDIS_PORT, FRONT_DIR.
"""
import json
import os
import socket
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DB_URL = os.environ.get("DB_URL", "postgres://postgres@127.0.0.1:5432/ibtool")
REDIS = (os.environ.get("REDIS_HOST", "127.0.0.1"), int(os.environ.get("REDIS_PORT", "6379")))
FRONT_DIR = os.environ.get("FRONT_DIR", os.path.join(os.path.dirname(__file__), "front"))
VERSION = os.environ.get("IBTOOL_VERSION", "dev")
MAX_BODY = 64 * 1024


def psql(script, **variables):
    """Run `script` with psql variables (:'name' quotes them); the output, unaligned."""
    args = ["psql", DB_URL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"]
    for name, value in variables.items():
        args[1:1] = ["-v", f"{name}={value}"]
    done = subprocess.run(args, input=script, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or "psql failed")
    return done.stdout.strip()


def redis(*words):
    """One Redis command; its reply line (`+PONG`, `:3`, `$…`)."""
    command = f"*{len(words)}\r\n" + "".join(f"${len(w.encode())}\r\n{w}\r\n" for w in words)
    with socket.create_connection(REDIS, timeout=2) as s:
        s.sendall(command.encode())
        reply = s.recv(4096).decode(errors="replace")
    if reply.startswith("-"):
        raise RuntimeError(reply.strip())
    return reply


class Handler(BaseHTTPRequestHandler):
    server_version = "ibtool"

    def answer(self, status, body, kind="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        print("%s %s" % (self.address_string(), fmt % args), flush=True)

    def do_GET(self):
        if self.path == "/health":
            try:
                psql("SELECT 1;")
                redis("PING")
            except Exception as e:  # the probe reads the reason
                return self.answer(503, f"unhealthy: {e}", "text/plain")
            return self.answer(200, "ok", "text/plain")
        if self.path == "/api/complaints":
            rows = psql("SELECT COALESCE(json_agg(c ORDER BY c.id), '[]') FROM complaints c;")
            return self.answer(200, rows)
        if self.path == "/api/stats":
            try:
                count = int(redis("GET", "ibtool:complaints").split("\r\n")[1] or 0)
            except (IndexError, ValueError):
                count = 0
            return self.answer(200, json.dumps({"complaints": count, "version": VERSION}))
        name = "index.html" if self.path in ("/", "") else self.path.lstrip("/")
        if "/" in name or name.startswith("."):
            return self.answer(404, "not found", "text/plain")
        try:
            with open(os.path.join(FRONT_DIR, name), "rb") as f:
                kind = "text/html" if name.endswith(".html") else "text/javascript"
                return self.answer(200, f.read(), kind)
        except OSError:
            return self.answer(404, "not found", "text/plain")

    def do_POST(self):
        if self.path != "/api/complaints":
            return self.answer(404, "not found", "text/plain")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self.answer(413, json.dumps({"error": "at most 64 KiB"}))
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            title = str(body["title"]).strip()
            if not title:
                raise ValueError("empty title")
        except (ValueError, KeyError, TypeError) as e:
            return self.answer(400, json.dumps({"error": f"give a JSON object with a title: {e}"}))
        created = psql(
            "INSERT INTO complaints (title, customer) VALUES (:'title', :'customer') RETURNING id;",
            title=title,
            customer=str(body.get("customer", "")),
        )
        redis("INCR", "ibtool:complaints")
        return self.answer(201, json.dumps({"id": int(created)}))


if __name__ == "__main__":
    port = int(os.environ.get("API_PORT", "8181"))
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
