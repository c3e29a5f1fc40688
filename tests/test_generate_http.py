"""The OpenAI-compatible HTTP generator against a real local server (127.0.0.1) answering with the tiny
model: answers, a retried 5xx, a timeout, a malformed answer, and an API key that is never written."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from unlearn.generate.base import CachedGenerator, Request
from unlearn.generate.http import GeneratorError, HTTPGenerator

SECRET = "sk-test-secret-4242"


@pytest.fixture(scope="module")
def server(target_model):
    from unlearn.generate.local import LocalGenerator

    local = LocalGenerator.from_path(str(target_model), max_new_tokens=8)
    state = {"auth": [], "fail_once": set(), "lock": threading.Lock()}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompt = body["messages"][0]["content"]
            state["auth"].append(self.headers.get("Authorization"))
            if prompt.startswith("fail-once"):
                with state["lock"]:
                    first = prompt not in state["fail_once"]
                    state["fail_once"].add(prompt)
                if first:
                    self.send_response(503)
                    self.end_headers()
                    return
            if prompt.startswith("slow"):
                time.sleep(1.0)
            if prompt.startswith("garbage"):
                payload = b"<html>not an API</html>"
            else:
                with state["lock"]:
                    text = local.generate([Request("chat", prompt=prompt)])[0]
                payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", state, local
    httpd.shutdown()


def test_answers_retries_and_the_key(server, tmp_path, monkeypatch):
    url, state, local = server
    monkeypatch.setenv("UNLEARN_TEST_KEY", SECRET)
    gen = HTTPGenerator(url, "tiny", api_key_env="UNLEARN_TEST_KEY", timeout=5, retries=2, backoff=0.01)
    cached = CachedGenerator(gen, tmp_path)
    prompts = ["Where was Kegenys Draberg born?", "fail-once: Who is the father of Kegenys Draberg?"]
    out = cached.generate([Request("chat", prompt=p) for p in prompts])
    assert out[0] == local.generate([Request("chat", prompt=prompts[0])])[0]  # the served model's answer
    assert isinstance(out[1], str)  # the 503 was retried
    assert f"Bearer {SECRET}" in state["auth"]  # the key was sent ...
    for path in tmp_path.rglob("*"):  # ... and written nowhere
        assert SECRET not in path.read_text()
    assert SECRET not in gen.name and SECRET not in json.dumps(vars(gen), default=str)


def test_timeout_and_malformed_answers_are_one_line_errors(server):
    url, _, _ = server
    gen = HTTPGenerator(url, "tiny", timeout=0.3, retries=1, backoff=0.01)
    with pytest.raises(GeneratorError, match="failed 2 times \\(last: .*timed out"):
        gen.generate([Request("chat", prompt="slow please")])
    with pytest.raises(GeneratorError, match="not an OpenAI chat completion \\('<html>not an API</html>'\\)") as err:
        gen.generate([Request("chat", prompt="garbage please")])
    assert "\n" not in str(err.value)
    with pytest.raises(GeneratorError, match="name the model after '#'"):
        from unlearn.generate.http import from_spec

        from_spec(url)
