#!/usr/bin/env python3
"""A loopback profile server for tests/push.sh: stores what it is sent.

Takes Pyroscope's POST /ingest (multipart/form-data, the pprof in the
"profile" file field, its configuration in "sample_type_config") and
Parca's POST /profiles/writeraw (the JSON form of WriteRawRequest), unpacks
them with Python's own multipart and JSON decoders, and writes, per request
N, N.json (path, query, headers, and what was found) and N-K.pb.gz (each
pprof it carried).  Answers --status (default 200); --fail-first N answers
503 to the first N requests.

usage: push_receiver.py DIR PORT [--status CODE] [--fail-first N]
"""
import base64
import email.parser
import email.policy
import http.server
import json
import os
import sys
import threading
import urllib.parse

out_dir, port = sys.argv[1], int(sys.argv[2])
status = int(sys.argv[sys.argv.index("--status") + 1]) if "--status" in sys.argv else 200
fail_first = int(sys.argv[sys.argv.index("--fail-first") + 1]) if "--fail-first" in sys.argv else 0
lock = threading.Lock()
count = 0


def multipart_files(content_type, body):
    """The file fields of a multipart/form-data body, by name."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ValueError("not multipart")
    return {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in message.iter_parts()}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            count += 1
            n = count
        if n <= fail_first:
            self.answer(503, "busy, try later")
            return
        if status != 200:
            self.answer(status, "invalid token: authentication required")
            return
        url = urllib.parse.urlsplit(self.path)
        record = {"path": url.path, "query": urllib.parse.parse_qs(url.query),
                  "headers": {k.lower(): v for k, v in self.headers.items()}, "pprof": []}
        try:
            if url.path.endswith("/ingest"):
                files = multipart_files(self.headers["Content-Type"], body)
                record["sample_type_config"] = json.loads(files["sample_type_config"])
                profiles = [files["profile"]]
            elif url.path.endswith("/profiles/writeraw"):
                request = json.loads(body)
                record["series"] = [{label["name"]: label["value"] for label in s["labels"]["labels"]}
                                    for s in request["series"]]
                profiles = [base64.b64decode(s["samples"][0]["raw_profile"]) for s in request["series"]]
            else:
                self.answer(404, "no such endpoint")
                return
        except (KeyError, ValueError, TypeError) as e:
            self.answer(400, "malformed request: %s" % e)
            return
        for k, data in enumerate(profiles):
            name = "%04d-%d.pb.gz" % (n, k)
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(data)
            record["pprof"].append(name)
        with open(os.path.join(out_dir, "%04d.json" % n), "w") as f:
            json.dump(record, f)
        self.answer(200, "")


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
print("ready", flush=True)
server.serve_forever()
