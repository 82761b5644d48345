"""A minimal S3 in memory, served on 127.0.0.1 for tests of object-store URIs (`s3://…`):
path-style ListObjectsV2 (prefix, delimiter, start-after), GET with byte ranges, HEAD, PUT
(`If-None-Match: *`, copy), DELETE and multi-object delete: what delta-rs, pyarrow and polars
use to write and read a Delta table. Not a complete S3: no pagination, no multipart upload, no
authentication check.

    python tests/s3_server.py    # prints the port it listens on, then serves until killed

It runs in its own process: delta-rs blocks in its calls while holding the GIL, so a server
thread in the test's process would never answer.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import re
import time
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

OBJECTS: dict[str, tuple[bytes, float]] = {}
"""Key (the bucket's name left out: one bucket) → (content, modification time in epoch s)."""


def options(port: int) -> dict[str, str]:
    """The storage options that point delta-rs, pyarrow and polars at the server on `port`."""
    return {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}


def _listing(prefix: str, delimiter: str, after: str) -> bytes:
    keys, prefixes = [], set()
    for key in sorted(k for k in OBJECTS if k.startswith(prefix) and k > after):
        rest = key[len(prefix):]
        if delimiter and delimiter in rest:
            prefixes.add(prefix + rest.split(delimiter)[0] + delimiter)
        else:
            keys.append(key)
    stamp = "%Y-%m-%dT%H:%M:%S.000Z"
    items = "".join(
        f"<Contents><Key>{escape(k)}</Key><Size>{len(OBJECTS[k][0])}</Size><LastModified>"
        f"{time.strftime(stamp, time.gmtime(OBJECTS[k][1]))}</LastModified>"
        f"<ETag>\"{hashlib.md5(OBJECTS[k][0]).hexdigest()}\"</ETag></Contents>" for k in keys)
    items += "".join(f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>"
                     for p in sorted(prefixes))
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult>"
            f"<Prefix>{escape(prefix)}</Prefix><KeyCount>{len(keys)}</KeyCount>"
            f"<IsTruncated>false</IsTruncated>{items}</ListBucketResult>").encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, code: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None,
              length: int | None = None) -> None:
        self.send_response(code)
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def _key(self) -> tuple[str, dict[str, list[str]]]:
        url = urlsplit(self.path)
        return unquote(url.path.lstrip("/").partition("/")[2]), parse_qs(url.query)

    def _meta(self, key: str) -> list[tuple[str, str]]:
        body, modified = OBJECTS[key]
        return [("ETag", f"\"{hashlib.md5(body).hexdigest()}\""),
                ("Last-Modified", email.utils.formatdate(modified, usegmt=True))]

    def do_GET(self) -> None:  # noqa: N802 (the handler's method names are http.server's)
        key, query = self._key()
        if "list-type" in query:
            self._send(200, _listing(*(query.get(q, [""])[0]
                                       for q in ("prefix", "delimiter", "start-after"))))
        elif key not in OBJECTS:
            self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
        elif ranged := re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "")):
            body = OBJECTS[key][0]
            start, end = int(ranged[1]), min(int(ranged[2] or len(body) - 1), len(body) - 1)
            self._send(206, body[start:end + 1], [
                *self._meta(key), ("Content-Range", f"bytes {start}-{end}/{len(body)}")])
        else:
            self._send(200, OBJECTS[key][0], self._meta(key))

    def do_HEAD(self) -> None:  # noqa: N802
        key, _ = self._key()
        if key in OBJECTS:
            self._send(200, headers=self._meta(key), length=len(OBJECTS[key][0]))
        else:
            self._send(404)

    def do_PUT(self) -> None:  # noqa: N802
        key, _ = self._key()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        source = self.headers.get("x-amz-copy-source")
        if self.headers.get("If-None-Match") == "*" and key in OBJECTS:
            self._send(412, b"<Error><Code>PreconditionFailed</Code></Error>")
        elif source:
            copied = unquote(source).lstrip("/").partition("/")[2]
            if copied not in OBJECTS:
                self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
                return
            OBJECTS[key] = (OBJECTS[copied][0], time.time())
            self._send(200, b"<CopyObjectResult><ETag>\"\"</ETag></CopyObjectResult>")
        else:
            OBJECTS[key] = (body, time.time())
            self._send(200, headers=self._meta(key))

    def do_DELETE(self) -> None:  # noqa: N802
        OBJECTS.pop(self._key()[0], None)
        self._send(204)

    def do_POST(self) -> None:  # noqa: N802  (multi-object delete)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        keys = re.findall(r"<Key>(.*?)</Key>", body)
        for key in keys:
            OBJECTS.pop(key, None)
        self._send(200, ("<DeleteResult>" + "".join(f"<Deleted><Key>{escape(k)}</Key></Deleted>"
                                                     for k in keys) + "</DeleteResult>").encode())

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    print(server.server_port, flush=True)
    server.serve_forever()
