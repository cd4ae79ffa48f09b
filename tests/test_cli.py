"""`newsbot` as a user runs it: a real process, the loopback LLM server, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_ARTICLE, TESTDATA
from tests.fakes.openai_server import FakeLLM, completion
from tests.fakes.web_server import FakeWeb


def newsbot(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "TELEGRAM_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          env={**base, **(env or {})}, cwd=cwd, timeout=60)


@pytest.fixture
def llm_env(llm_server: FakeLLM, tmp_path: Path) -> dict[str, str]:
    return {"OPENAI_BASE_URL": llm_server.base_url, "OPENAI_API_KEY": "sk-test", "LLM_MODEL": "fake-model",
            "LLM_RETRY_BASE_S": "0.01", "DATA_DIR": str(tmp_path / "data")}


def test_summarize_prints_a_readable_bilingual_brief(llm_env: dict[str, str], tmp_path: Path) -> None:
    r = newsbot("summarize", str(EXAMPLE_ARTICLE), env=llm_env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "من يضغط على من" in r.stdout and "Who is pressuring whom" in r.stdout
    assert "United States, Qatar, Egypt → Israel, Hamas" in r.stdout
    assert "12 verified span(s)" in r.stdout


def test_summarize_json_from_stdin(llm_env: dict[str, str], tmp_path: Path) -> None:
    r = newsbot("summarize", "-", "--json", env=llm_env, stdin=EXAMPLE_ARTICLE.read_text(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    env = json.loads(r.stdout)
    assert env["article"]["source"] == "stdin" and env["brief"]["actors"][0]["id"] == "usa"
    assert env["provenance"]["prompt_version"].startswith("brief-v")
    assert env["checks"]["passed_first_time"] is True


def test_summarize_html_file(llm_env: dict[str, str], llm_server: FakeLLM, tmp_path: Path) -> None:
    r = newsbot("summarize", str(TESTDATA / "html" / "html__arabic_article.html"), "--json", env=llm_env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["article"]["title"] == "معارضون يسيطرون على مخازن للصواريخ بريف دمشق"
    assert "أكدت جهات سورية معارضة" in llm_server.requests[0]["messages"][1]["content"]
    assert "<div" not in llm_server.requests[0]["messages"][1]["content"]


def test_schema_command() -> None:
    r = newsbot("schema")
    schema = json.loads(r.stdout)
    assert r.returncode == 0 and set(schema["required"]) == {
        "language", "headline", "summary", "actors", "pressures", "positions", "sources"}


@pytest.mark.parametrize(
    ("args", "env", "stdin", "code", "message"),
    [
        (["summarize", "x.txt"], {}, None, 2, "OPENAI_API_KEY"),
        (["summarize", "missing.txt"], {"OPENAI_API_KEY": "k"}, None, 3, "no such file"),
        (["summarize", "-"], {"OPENAI_API_KEY": "k"}, "   \n", 3, "no text"),
        (["summarize", "-"], {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "LLM_MAX_ATTEMPTS": "1"},
         EXAMPLE_ARTICLE.read_text(), 5, "cannot connect"),
        (["summarize", "-"], {"OPENAI_API_KEY": "k", "LLM_TIMEOUT_S": "soon"}, "x", 2, "LLM_TIMEOUT_S"),
    ],
)
def test_user_mistakes_are_one_clear_line(tmp_path: Path, args: list[str], env: dict[str, str], stdin: str | None,
                                          code: int, message: str) -> None:
    r = newsbot(*args, env=env, stdin=stdin, cwd=tmp_path)
    assert r.returncode == code, (r.returncode, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_refusal_exit_code(llm_env: dict[str, str], llm_server: FakeLLM, tmp_path: Path) -> None:
    llm_server.script = [completion(None, refusal="I won't.")]
    r = newsbot("summarize", str(EXAMPLE_ARTICLE), env=llm_env, cwd=tmp_path)
    assert r.returncode == 5 and "refused" in r.stderr and "I won't." in r.stderr


def test_check_reports_each_item(llm_env: dict[str, str], tmp_path: Path) -> None:
    r = newsbot("check", env=llm_env, cwd=tmp_path)
    lines = r.stdout.splitlines()
    assert any(line.startswith("✓ LLM endpoint reachable") for line in lines)
    assert any(line.startswith("✓ model fake-model answers in mode json_schema") for line in lines)
    assert any(line.startswith("✓ database writable") for line in lines)
    assert any(line.startswith("✗ Telegram: TELEGRAM_BOT_TOKEN is not set — fix:") for line in lines)
    assert r.returncode == 1
    assert "sk-test" not in r.stdout


def test_check_with_dead_endpoint(tmp_path: Path) -> None:
    r = newsbot("check", env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert r.returncode == 1
    assert "✗ LLM endpoint unreachable: http://127.0.0.1:9/v1 — fix:" in r.stdout


def test_extract_url_and_refusal(web: FakeWeb, tmp_path: Path) -> None:
    url = web.url("/page/html__arabic_article.html")
    r = newsbot("extract", url, "--json", env={"FETCH_ALLOW_PRIVATE_ADDRESSES": "true"}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["language"] == "ar" and out["status"] == "full" and "دمشق" in out["text"]
    refused = newsbot("extract", url, cwd=tmp_path)  # the default refuses loopback
    assert refused.returncode == 4 and "non-public" in refused.stderr


def test_check_passes_with_everything_in_place(llm_env: dict[str, str], tmp_path: Path) -> None:
    from tests.fakes.botapi_server import BOT_USERNAME, FakeBotAPI

    api = FakeBotAPI(TESTDATA / "bot-api" / "api.json").start()
    try:
        env = {**llm_env, "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url}
        r = newsbot("check", env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stdout
        assert f"✓ Telegram token accepted: @{BOT_USERNAME}" in r.stdout and "all checks passed" in r.stdout
        assert api.token not in r.stdout
        bad = newsbot("check", env={**env, "TELEGRAM_BOT_TOKEN": "999:wrong"}, cwd=tmp_path)
        assert bad.returncode == 1 and "✗ Telegram rejected the token" in bad.stdout
    finally:
        api.stop()


def test_summarize_url(llm_env: dict[str, str], llm_server: FakeLLM, web: FakeWeb, tmp_path: Path) -> None:
    url = web.url("/page/bbc.com.52241221.html")
    r = newsbot("summarize", url, "--json", env={**llm_env, "FETCH_ALLOW_PRIVATE_ADDRESSES": "true"}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["article"]["url"] == url and out["article"]["status"] == "full"
    assert "New York" in llm_server.requests[0]["messages"][1]["content"]
