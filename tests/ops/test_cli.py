"""`newsbot` as a user runs it: a real process, the loopback LLM server, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.ops.cli import main
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
    assert "12 of 12 spans verified" in r.stdout and "وُثّق 12 مقطعًا من 12" in r.stdout


def test_summarize_rich_prints_the_rich_html_that_would_be_sent(llm_env: dict[str, str], tmp_path: Path) -> None:
    from tests.fakes.rich_html import check

    r = newsbot("summarize", str(EXAMPLE_ARTICLE), "--rich", "--lang", "en", env=llm_env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    got = check(r.stdout.strip())
    assert "Who is pressuring whom" in got.text and "من يضغط على من" not in got.text
    assert "<table bordered striped>" in r.stdout and "<details><summary>🔎 In the article" in r.stdout
    assert got.links and set(got.links) <= got.anchors  # every quote links to its marked place


def test_summarize_json_from_stdin(llm_env: dict[str, str], tmp_path: Path) -> None:
    r = newsbot("summarize", "-", "--json", env=llm_env, stdin=EXAMPLE_ARTICLE.read_text(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    env = json.loads(r.stdout)
    assert env["article"]["source"] == "stdin" and env["brief"]["actors"][0]["id"] == "usa"
    assert env["provenance"]["prompt_version"].startswith("brief-v")
    assert env["checks"]["passed_first_time"] is True


def test_summarize_html_file(llm_env: dict[str, str], llm_server: FakeLLM, tmp_path: Path) -> None:
    r = newsbot("summarize", str(TESTDATA / "html" / "html__arabic_article.html"), "--json", env=llm_env, cwd=tmp_path)
    assert r.returncode == 7, r.stderr  # the loopback model briefs the example article: none of it is in this page
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
        (["extract", "."], {}, None, 3, ". is a folder"),
        (["extract", ""], {}, None, 3, "no file given"),
        (["extract", "/dev/null"], {}, None, 3, "/dev/null is not a regular file"),
        (["extract", "ftp://example.com/a.txt"], {}, None, 4, "only http and https links are read, not 'ftp'"),
        (["summarize", "-"], {"OPENAI_API_KEY": "k", "MAX_DOCUMENT_BYTES": "10000"}, "قال الوزير " * 2_000, 6,
         "standard input: over the limit of 10,000 bytes"),
    ],
)
def test_user_mistakes_are_one_clear_line(tmp_path: Path, args: list[str], env: dict[str, str], stdin: str | None,
                                          code: int, message: str) -> None:
    r = newsbot(*args, env=env, stdin=stdin, cwd=tmp_path)
    assert r.returncode == code, (r.returncode, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_binary_file_without_an_extension_is_refused_in_plain_words(tmp_path: Path) -> None:
    (tmp_path / "notes").write_bytes(b"MZ\x90\x00" + bytes(range(256)) * 4)
    r = newsbot("extract", "notes", cwd=tmp_path)
    assert r.returncode == 6, r.stderr
    assert "its type is not one I recognise" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_refusal_exit_code(llm_env: dict[str, str], llm_server: FakeLLM, tmp_path: Path) -> None:
    llm_server.script = [completion(None, refusal="I won't.")]
    r = newsbot("summarize", str(EXAMPLE_ARTICLE), env=llm_env, cwd=tmp_path)
    assert r.returncode == 5 and "refused" in r.stderr and "I won't." in r.stderr


def test_a_model_that_cannot_be_reached_is_one_line_and_the_key_never_shows(tmp_path: Path) -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-secret-never-shown",
           "LLM_MAX_ATTEMPTS": "2", "LLM_RETRY_BASE_S": "0.01", "DATA_DIR": str(tmp_path)}
    r = newsbot("summarize", str(EXAMPLE_ARTICLE), env=env, cwd=tmp_path)
    assert r.returncode == 5 and len(r.stderr.strip().splitlines()) == 1, r.stderr  # the retries are not shown
    loud = newsbot("-v", "summarize", str(EXAMPLE_ARTICLE), env=env, cwd=tmp_path)
    assert "LLM attempt 1" in loud.stderr and "sk-secret-never-shown" not in loud.stderr + loud.stdout


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
    assert r.returncode == 7, r.stderr  # the loopback model briefs the example article: none of it is in this page
    out = json.loads(r.stdout)
    assert out["article"]["url"] == url and out["article"]["status"] == "full"
    assert "New York" in llm_server.requests[0]["messages"][1]["content"]


# --- bad input: one line, the right exit code, and no model call when there is nothing to brief -----
def run_raw(*args: str, env: dict[str, str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_", "TELEGRAM_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=kwargs.pop("capture", True),
                          env={**base, **env}, cwd=cwd, timeout=60, **kwargs)


def test_stdin_in_windows_1256_is_decoded_like_a_file(llm_env: dict[str, str], llm_server: FakeLLM,
                                                      tmp_path: Path) -> None:
    text = EXAMPLE_ARTICLE.read_text(encoding="utf-8")
    r = run_raw("summarize", "-", "--json", env=llm_env, cwd=tmp_path,
                input=text.encode("windows-1256", errors="ignore"))
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout)["article"]["language"] == "ar"
    assert text.split("\n", 1)[0][:40] in llm_server.requests[0]["messages"][1]["content"]


def test_closed_stdin_is_bad_input(llm_env: dict[str, str], llm_server: FakeLLM, tmp_path: Path) -> None:
    cmd = ["sh", "-c", 'exec "$0" -m bot summarize - <&-', sys.executable]  # fd 0 closed
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **llm_env}, cwd=tmp_path, timeout=60)
    assert r.returncode == 3, r.stderr
    assert "standard input is closed" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert llm_server.requests == []


def test_stdin_from_dev_null_is_bad_input(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "bot", "extract", "-"], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 3 and "no text" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_emoji_only_never_reaches_the_model(llm_env: dict[str, str], llm_server: FakeLLM, tmp_path: Path) -> None:
    r = newsbot("summarize", "-", env=llm_env, stdin="😀🔥🇸🇾" * 70, cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert "no words" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert llm_server.requests == []  # refused before any model call


def test_output_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """`newsbot extract ... | head -1`: the reader is gone before the output is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        r = run_raw("extract", str(EXAMPLE_ARTICLE), env={}, cwd=tmp_path, capture=False,
                    stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert r.returncode == 141
    assert r.stderr == b""


def test_library_log_lines_stay_out_of_stderr(tmp_path: Path) -> None:
    """trafilatura logs ERROR lines of its own on such a page; the user sees our one line."""
    page = tmp_path / "x.html"
    page.write_text("x")
    r = newsbot("extract", str(page), cwd=tmp_path)
    assert r.returncode == 3
    assert r.stderr.startswith("newsbot: This does not look like a news article")
    assert len(r.stderr.strip().splitlines()) == 1


def test_too_complex_html_file_is_one_line(tmp_path: Path) -> None:
    page = tmp_path / "many.html"
    page.write_bytes(b"<html><body>" + b"<p>a</p>" * 120_000 + b"</body></html>")
    r = newsbot("extract", str(page), cwd=tmp_path)
    assert r.returncode == 4, r.stderr
    assert "too complex to read" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# --- help ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("command", "words"), [
    ([], ["exit codes", "3   bad input", "4   fetching", "141"]),
    (["summarize"], ["input", "--json", "--lang", "example", "newsbot summarize -"]),
    (["extract"], ["input", "--json", "example"]),
    (["schema"], ["example"]),
    (["check"], ["--env-file", "example"]),
    (["run"], ["--env-file", "example"]),
    (["eval"], ["dir", "--json", "example", "summary.json"]),
])
def test_every_command_explains_itself(capsys: pytest.CaptureFixture[str], command: list[str],
                                       words: list[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    assert all(w in out for w in words), out


def test_run_reads_its_env_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env_file = tmp_path / "bot.env"
    env_file.write_text("LLM_TIMEOUT_S=soon\n")
    assert main(["run", "--env-file", str(env_file)]) == 2  # the file was read: its bad value is named
    assert "LLM_TIMEOUT_S" in capsys.readouterr().err
    assert main(["run", "--env-file", str(tmp_path / "missing.env")]) == 2
    assert "no such env file" in capsys.readouterr().err


def test_summarize_makes_no_store_and_uses_the_one_the_bot_made(llm_env: dict[str, str], llm_server: FakeLLM,
                                                                tmp_path: Path) -> None:
    here = tmp_path / "here"
    here.mkdir()
    env = {k: v for k, v in llm_env.items() if k != "DATA_DIR"}  # the default DATA_DIR: ./data
    for _ in range(2):
        r = newsbot("summarize", str(EXAMPLE_ARTICLE), env=env, cwd=here)
        assert r.returncode == 0, r.stderr
    assert list(here.iterdir()) == [] and llm_server.calls == 2  # no folder left behind, and no cache
    # a command that needs the store makes it, as `newsbot run` does
    newsbot("check", env=env, cwd=here)
    assert (here / "data" / "newsbot.sqlite3").is_file()
    calls = llm_server.calls
    first = newsbot("summarize", str(EXAMPLE_ARTICLE), "--json", env=env, cwd=here)
    assert first.returncode == 0, first.stderr
    assert llm_server.calls == calls + 1
    # the same text again, from stdin this time: the store answers, no model call
    again = newsbot("summarize", "-", "--json", env=env, stdin=EXAMPLE_ARTICLE.read_text(), cwd=here)
    assert again.returncode == 0, again.stderr
    assert llm_server.calls == calls + 1 and json.loads(again.stdout)["brief"] == json.loads(first.stdout)["brief"]
    fresh = newsbot("summarize", str(EXAMPLE_ARTICLE), "--no-cache", env=env, cwd=here)
    assert fresh.returncode == 0 and llm_server.calls == calls + 2


@pytest.mark.parametrize(("unfound", "why"), [(True, "none of its 12 quotes and evidence found"),
                                               (False, "it has no quote or evidence to check")])
def test_a_brief_with_nothing_verified_is_printed_and_exits_7(llm_env: dict[str, str], llm_server: FakeLLM,
                                                             tmp_path: Path, unfound: bool, why: str) -> None:
    from tests.conftest import example_brief

    data = example_brief()
    if unfound:  # every quote and evidence rewritten: none of them is the article's
        for item in (*data["pressures"], *data["sources"]):
            item["evidence"] = "كلام لم يرد في المقال على الإطلاق"
        for p in data["positions"]:
            p["quote"] = p["quote"] and "اقتباس لم يرد في المقال على الإطلاق"
    else:
        data["pressures"], data["positions"], data["sources"] = [], [], []
    llm_server.default = lambda payload: completion(json.dumps(data, ensure_ascii=False))
    for args in ([], ["--json"]):
        r = newsbot("summarize", str(EXAMPLE_ARTICLE), "--no-cache", *args, env=llm_env, cwd=tmp_path)
        assert r.returncode == 7, r.stderr
        assert r.stderr == f"newsbot: nothing in this brief could be verified against the article ({why})\n"
        if args:
            assert json.loads(r.stdout)["checks"]["grounding"]["spans_verified"] == 0
        else:
            assert "Caution" in r.stdout and "US, Qatar and Egypt press Israel and Hamas" in r.stdout
    # a brief with some of it verified exits 0: its warning says how much
    data = example_brief()
    for item in (*data["pressures"], *data["sources"]):
        item["evidence"] = "كلام لم يرد في المقال على الإطلاق"
    llm_server.default = lambda payload: completion(json.dumps(data, ensure_ascii=False))
    r = newsbot("summarize", str(EXAMPLE_ARTICLE), "--no-cache", env=llm_env, cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "" and "only 3 of 12" in r.stdout


def test_summarize_holds_every_input_to_the_minimum_length(llm_env: dict[str, str], llm_server: FakeLLM,
                                                           tmp_path: Path) -> None:
    r = newsbot("summarize", "-", env={**llm_env, "ARTICLE_MIN_CHARS": "500"}, stdin="قال الوزير إن المحادثات مستمرة.",
                cwd=tmp_path)
    assert r.returncode == 3 and "at least 500 needed" in r.stderr and llm_server.calls == 0
