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
    state = {"auth": [], "fail_once": set(), "lock": threading.Lock(), "judged": [], "entities": []}

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
            elif prompt.startswith("List the key entities"):  # an entity model: the text's words, as entities
                text = prompt.rsplit("Text:", 1)[1].strip()
                state["entities"].append(text)
                reply = ", ".join(text.split()) or "none"
                payload = json.dumps({"choices": [{"message": {"content": reply}}]}).encode()
            elif prompt.startswith("Rate an answer"):  # a judge: fluency 5 for a non-empty answer, else 1
                answer = prompt.rsplit("Answer:", 1)[1].strip()
                state["judged"].append(answer)
                verdict = f'{{"relevance": 4, "fluency": {5 if answer else 1}}}'
                payload = json.dumps({"choices": [{"message": {"content": verdict}}]}).encode()
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


def test_the_fluency_judge_through_the_http_backend(server, world, target_model, tmp_path):
    from unlearn.config import load_config
    from unlearn.core.errors import ConfigError
    from unlearn.eval.evaluator import evaluate_model
    from unlearn.eval.parts import load_parts
    from unlearn.models import load_model, load_tokenizer

    url, state, _ = server
    cfg = load_config(overrides=[f"data.path={world}", f"model.path={target_model}", "eval.metrics=fluency,relevance",
                                 "eval.splits=forget", "eval.max_new_tokens=6", f"eval.cache_dir={tmp_path}",
                                 f"eval.judge_model={url}#tiny"])
    model, tok = load_model(cfg.model).eval(), load_tokenizer(cfg.model)
    before = len(state["judged"])
    metrics, samples = evaluate_model(model, tok, cfg, parts=load_parts(cfg, "cpu"))
    judged = state["judged"][before:]
    assert sorted(judged) == sorted(s["generation"] for s in samples)  # each answer judged once
    expected = sum(5 if s["generation"].strip() else 1 for s in samples) / len(samples)
    assert metrics["metrics"]["forget_fluency"] == pytest.approx(expected)
    assert metrics["metrics"]["forget_relevance"] == 4.0 and "fluency" not in metrics.get("notes", {})
    evaluate_model(model, tok, cfg, parts=load_parts(cfg, "cpu"))
    assert len(state["judged"]) == before + len(judged)  # a re-evaluation asks the judge nothing
    offline = load_config(overrides=[f"data.path={world}", f"model.path={target_model}", "eval.metrics=fluency",
                                     "eval.judge_model=offline"])
    with pytest.raises(ConfigError, match="cannot rate answers"):
        load_parts(offline, "cpu")


def test_kfr_entities_from_a_model_through_the_http_backend(server, world, target_model, tmp_path):
    """eval.entity_model: KFR's entities come from the model with ReLearn's prompt (here a server that
    lists an answer's words), for every generated and every reference answer, and the note no longer
    says KFR was computed without a model extractor."""
    from unlearn.config import load_config
    from unlearn.eval.evaluator import evaluate_model
    from unlearn.eval.parts import load_parts
    from unlearn.models import load_model, load_tokenizer

    url, state, _ = server
    over = [f"data.path={world}", f"model.path={target_model}", "eval.suites=[]", "eval.metrics=kfr",
            "eval.splits=forget", "eval.max_new_tokens=6", f"eval.cache_dir={tmp_path}"]
    model, tok = load_model(load_config(overrides=over).model).eval(), load_tokenizer(load_config(overrides=over).model)
    rules, _ = evaluate_model(model, tok, load_config(overrides=over), parts=load_parts(load_config(overrides=over), "cpu"))
    assert "llm_extractor" in rules["notes"]["kfr"]
    cfg = load_config(overrides=[*over, f"eval.entity_model={url}#tiny"])
    before = len(state["entities"])
    metrics, samples = evaluate_model(model, tok, cfg, parts=load_parts(cfg, "cpu"))
    asked = state["entities"][before:]
    assert set(asked) >= {s["answer"] for s in samples} and "llm_extractor" not in metrics["notes"].get("kfr", "")
    assert 0.0 <= metrics["metrics"]["forget_kfr"] <= 1.0


def test_the_demo_augments_relearn_through_a_server(server, world, tmp_path, monkeypatch):
    from unlearn.demo import _augmented

    url, _, _ = server
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "cache"))
    path = _augmented(tmp_path, world, f"{url}#tiny", "offline", lambda *a: None)
    rows = [json.loads(line) for line in open(path)]
    summary = json.loads(open(f"{path}.summary.json").read())
    forget = json.loads((world / "forget10.json").read_text())
    assert summary["generator"] == f"http:{url}#tiny" and summary["verifier"] == "offline-rules-v2"
    assert summary["forget_records"] == len(forget) and summary["rows"]["qa"] > 0
    assert all(r["generator"] == f"http:{url}#tiny" and r["answer"].strip() for r in rows)
    # checked by its own model instead, every answer fails (the tiny model never says a clear "No"):
    # a one-line error, nothing written
    from unlearn.core.errors import UnlearnError

    with pytest.raises(UnlearnError, match="every generated answer was dropped after 3 verification rounds"):
        _augmented(tmp_path / "self", world, f"{url}#tiny", f"{url}#tiny", lambda *a: None)
    assert not (tmp_path / "self" / "augmented.jsonl").exists()
