"""The embedded default: no config, SQLite under $AIGUILLAGE_HOME, Gemma 3 270M in-process."""

from __future__ import annotations

from pathlib import Path

import openai

from tests.support import GatewayProcess


def test_embedded_default_answers_the_openai_sdk(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, None, workers=1).start(timeout=180)
    try:
        key = gw.key("acme", via_cli=True)
        c = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=120)
        assert [m.id for m in c.models.list()] == ["local-small", "auto"]
        raw = c.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8, temperature=0)
        r = raw.parse()
        assert raw.headers["x-aiguillage-model"] == "local-small"
        assert raw.headers["x-aiguillage-cost-eur"] == "0"
        assert r.model == "gemma-3-270m"
        assert r.usage is not None and r.usage.prompt_tokens > 0 and 0 < r.usage.completion_tokens <= 8
        assert r.choices[0].finish_reason in ("stop", "length")
        # The bundled base model is prompted as plain question-and-answer text: a real answer,
        # without the space after "Answer:" and without a turn of its own or any marker.
        answer = r.choices[0].message.content or ""
        assert answer.strip() and answer == answer.strip(), repr(answer)
        assert not any(m in answer for m in ("<|im_", "Question:", "Answer:")), repr(answer)
        stream = c.chat.completions.create(model="small", messages=[{"role": "user", "content": "Count: 1, 2,"}],
                                           max_tokens=6, temperature=0, seed=7, stream=True,
                                           stream_options={"include_usage": True})
        chunks = list(stream)
        assert chunks[-1].usage is not None and 0 < chunks[-1].usage.completion_tokens <= 6
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text.strip() and text == text.lstrip(), repr(text)
        assert (tmp_path / "aiguillage.db").exists()  # SQLite under $AIGUILLAGE_HOME
    finally:
        gw.stop()
