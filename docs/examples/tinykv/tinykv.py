"""tinykv: a one-node key-value server, the smallest system to put under the lab.

It is not Aspen and shares no code with it: it stands for "someone else's system". HTTP on
``--port``: ``GET /kv/<key>`` (404 when absent), ``PUT /kv/<key>`` (body: the value),
``POST /cas/<key>`` (JSON ``{"expected": str | null, "new": str}``; 409 on mismatch),
``GET /keys/<prefix>`` (JSON list of keys), ``GET /status``. Every change is written to
``<data-dir>/data.json`` and fsynced before it is acknowledged, unless ``--no-sync``: then the
data lives only in memory, and a crash loses acknowledged writes (which the lab must catch).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Store:
    def __init__(self, data_dir: Path, sync: bool) -> None:
        self.path = data_dir / "data.json"
        self.sync = sync
        self.lock = threading.Lock()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data: dict[str, str] = (
            json.loads(self.path.read_text()) if sync and self.path.exists() else {}
        )

    def save(self) -> None:
        if not self.sync:
            return
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(self.data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def handler(store: Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def reply(self, status: int, body: object) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))

        def do_GET(self) -> None:
            if self.path == "/status":
                return self.reply(200, {"role": "leader", "keys": len(store.data)})
            if self.path.startswith("/kv/"):
                with store.lock:
                    value = store.data.get(self.path[4:])
                return self.reply(404 if value is None else 200, {"value": value})
            if self.path.startswith("/keys/"):
                prefix = self.path[6:]
                with store.lock:
                    keys = [k for k in store.data if k.startswith(prefix)]
                return self.reply(200, keys)
            return self.reply(404, {"error": "no such path"})

        def do_PUT(self) -> None:
            if not self.path.startswith("/kv/"):
                return self.reply(404, {"error": "no such path"})
            with store.lock:
                store.data[self.path[4:]] = self.body().decode()
                store.save()
            return self.reply(200, {})

        def do_POST(self) -> None:
            if not self.path.startswith("/cas/"):
                return self.reply(404, {"error": "no such path"})
            try:
                req = json.loads(self.body())
            except ValueError:
                return self.reply(400, {"error": "body is not JSON"})
            key = self.path[5:]
            with store.lock:
                if store.data.get(key) != req.get("expected"):
                    return self.reply(409, {"current": store.data.get(key)})
                store.data[key] = str(req["new"])
                store.save()
            return self.reply(200, {})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--no-sync", action="store_true", help="UNSAFE: keep data in memory")
    args = parser.parse_args()
    store = Store(args.data_dir, sync=not args.no_sync)
    ThreadingHTTPServer((args.host, args.port), handler(store)).serve_forever()


if __name__ == "__main__":
    main()
