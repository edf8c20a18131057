"""A fake OpenAI-compatible chat-completions server (stdlib ``http.server`` on 127.0.0.1, ephemeral
port) that injects faults by product id: the boundary we do not own, faked; the client under test
is the real one."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

_PID = re.compile(r'<product id="([^"]+)">\s*(.*?)\s*</product>', re.S)
_PAIR = re.compile(r"pair_id: (\S+)")


class FakeLLM:
    """``script[product_id]`` = list of actions, one per attempt (last one repeats):
    ok | 429 | 500 | 503 | timeout | malformed | schema | wrong_id | 401 | 400 | empty | drop (close the
    connection unanswered) | truncated_body (HTTP 200, body cut mid-JSON) | wrong_shape (HTTP 200,
    ``{"choices": "nope"}``) | html (HTTP 200, an HTML page) | retry_after (429 with ``retry-after-ms``
    of ``retry_after_s``, as OpenAI's API sends). 429/5xx carry ``retry-after-ms: 5`` (a server asking
    for a short pause), so the client's own backoff does not slow the tests. ``jury:<pair_id>`` and
    ``cluster`` keys script the jury and cluster-naming requests. A title containing "ignore previous instructions" is obeyed, as a
    gullible model would."""

    def __init__(self) -> None:
        self.script: dict[str, list[str]] = {}
        self.calls: Counter = Counter()
        self.total = 0
        self.sleep_s = 1.0
        self.lock = threading.Lock()
        self.bodies: list[dict] = []
        self.jury_irrelevant: set[str] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        # optional hook for other request shapes (e.g. the carousels pipeline): body -> content | None
        self.responder = None
        self.retry_after_s = 1.5
        self.times: dict[str, list[float]] = defaultdict(list)

    def action(self, pid: str) -> str:
        with self.lock:
            n = self.calls[pid]
            self.calls[pid] += 1
            self.total += 1
            self.times[pid].append(time.monotonic())
        acts = self.script.get(pid, ["ok"])
        return acts[min(n, len(acts) - 1)]


def _completion(content: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "fake-model",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }).encode()


def make_handler(fake: FakeLLM):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):  # quiet
            pass

        def _send(self, code: int, body: bytes, headers: dict | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_POST(self):  # noqa: N802
            with fake.lock:
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                return self._post()
            finally:
                with fake.lock:
                    fake.in_flight -= 1

        def _post(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with fake.lock:
                fake.bodies.append(body)
            user = body["messages"][-1]["content"]
            if fake.responder is not None:
                content = fake.responder(body)
                if content is not None:
                    with fake.lock:
                        fake.total += 1
                    return self._send(200, _completion(content))
            m = _PID.search(user)
            pid, title = (m.group(1), m.group(2)) if m else ("?", "")
            pair = _PAIR.search(user)
            naming = "name" in body["response_format"]["json_schema"]["schema"]["properties"] \
                if body.get("response_format", {}).get("json_schema") else False
            key = f"jury:{pair.group(1)}" if pair else "cluster" if naming else pid
            act = fake.action(key)
            if act == "timeout":
                time.sleep(fake.sleep_s)
                act = "ok"
            if act == "drop":
                self.close_connection = True
                return None
            if act == "retry_after":
                ms = str(int(fake.retry_after_s * 1000))
                return self._send(429, b'{"error": {"message": "slow down"}}', {"retry-after-ms": ms})
            if act in {"429", "500", "503", "401", "400"}:
                hdr = {"retry-after-ms": "5"} if act in {"429", "500", "503"} else {}
                return self._send(int(act), json.dumps({"error": {"message": f"injected {act}"}}).encode(), hdr)
            if act == "truncated_body":
                return self._send(200, _completion(json.dumps({"product_id": pid, "queries": ["a"]}))[:45])
            if act == "wrong_shape":
                return self._send(200, b'{"choices": "nope"}')
            if act == "html":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                page = b"<html><body>502 Bad Gateway</body></html>"
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return None
            if naming:
                return self._send(200, _completion(json.dumps({"name": "cordless drills"})))
            if pair:  # jury request
                rel = not any(s in user for s in fake.jury_irrelevant)
                return self._send(200, _completion(json.dumps(
                    {"pair_id": pair.group(1), "relevant": rel, "grade": 3 if rel else 0})))
            if "ignore previous instructions" in title.lower():
                # a gullible model obeys the injected text
                return self._send(200, _completion('HACKED. {"product_id": "P-VICTIM", "queries": ["hacked"]}'))
            content = {
                "ok": json.dumps({"product_id": pid, "queries": [f"query one {pid}", f"query two {pid}"]}),
                "malformed": '{"product_id": "' + pid + '", "queries": ["unterminated',
                "schema": json.dumps({"product_id": pid, "results": ["not the schema"]}),
                "wrong_id": json.dumps({"product_id": "P-VICTIM", "queries": ["hacked"]}),
                "empty": "",
            }[act]
            return self._send(200, _completion(content))

    return Handler


@pytest.fixture()
def fake_llm():
    """``(fake, base_url)``: a running fake server, shut down after the test."""
    fake = FakeLLM()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield fake, f"http://127.0.0.1:{srv.server_address[1]}/v1"
    finally:
        srv.shutdown()
        srv.server_close()
