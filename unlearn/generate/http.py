"""Any OpenAI-compatible chat-completions endpoint as a generator (vLLM, Ollama, llama.cpp's server,
hosted APIs), with the standard library only.

The API key is read from an environment variable (`api_key_env`, default OPENAI_API_KEY) when a request
is sent and is never stored on the object, put in its name (the cache key), logged or written. Each
request has a timeout; a timeout, a connection error or a 5xx answer is retried with exponential
backoff; requests run concurrently up to `concurrency`. An answer that is not the expected JSON is a
one-line GeneratorError that says what came back, never a traceback from deep inside.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from unlearn.core.errors import UnlearnError
from unlearn.generate.base import SAMPLE_TEMPERATURE, Request


class GeneratorError(UnlearnError):
    """A generator backend failed in a way retrying does not fix."""


class HTTPGenerator:
    def __init__(self, base_url: str, model: str, api_key_env: str = "OPENAI_API_KEY", timeout: float = 60.0,
                 retries: int = 3, backoff: float = 1.0, concurrency: int = 4, max_tokens: int = 256):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key_env = model, api_key_env
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.concurrency, self.max_tokens = concurrency, max_tokens
        self.name = f"http:{base_url.rstrip('/')}#{model}"
        self.settings = {"max_tokens": max_tokens, "temperature": SAMPLE_TEMPERATURE}

    def generate(self, requests: Sequence[Request]) -> list[str]:
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(self._one, requests))

    def _body(self, r: Request) -> bytes:
        round_ = int(r.params.get("round", 1))
        return json.dumps({"model": self.model, "messages": [{"role": "user", "content": r.prompt}],
                           "max_tokens": self.max_tokens, "temperature": 0.0 if round_ == 1 else SAMPLE_TEMPERATURE,
                           "seed": int(r.key()[:8], 16)}).encode()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _one(self, r: Request) -> str:
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                req = urllib.request.Request(self.url, data=self._body(r), headers=self._headers(), method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return _content(resp.read(), self.url)
            except urllib.error.HTTPError as err:
                if err.code < 500:
                    raise GeneratorError(f"{self.url} answered HTTP {err.code}; check the model name, the URL "
                                         f"and the key in ${self.api_key_env}") from None
                last = f"HTTP {err.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
                last = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
        raise GeneratorError(f"{self.url} failed {self.retries + 1} times (last: {last}, timeout {self.timeout:g} s); "
                             "check that the server is up and not overloaded")


def _content(raw: bytes, url: str) -> str:
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise TypeError("content is not text")
        return content
    except (ValueError, KeyError, IndexError, TypeError):
        shown = raw[:80].decode("utf-8", "replace").replace("\n", " ")
        raise GeneratorError(f"{url} sent an answer that is not an OpenAI chat completion ({shown!r}); "
                             "check that the URL ends in /v1 of an OpenAI-compatible server") from None


def from_spec(spec: str, **kwargs: Any) -> HTTPGenerator:
    """"http://host:port/v1#model" -> HTTPGenerator."""
    url, _, model = spec.partition("#")
    if not model:
        raise GeneratorError(f"generator {spec!r}: name the model after '#', e.g. http://127.0.0.1:8000/v1#my-model")
    return HTTPGenerator(url, model, **kwargs)
