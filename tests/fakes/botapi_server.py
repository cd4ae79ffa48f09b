"""A Bot API server on loopback, as strict as Telegram where it matters to us.

It checks every call against `tests/data/bot-api/api.json` (Bot API 10.1): unknown
methods and parameters are rejected, required ones enforced; message text must be 1–4096
characters after entity parsing, valid HTML in parse mode HTML, and callback data ≤ 64 bytes.
Rich messages (sendRichMessage, the drafts, editMessageText with rich_message) are checked as
Telegram documents them: an InputRichMessage with exactly one of html or markdown, the Rich HTML
valid, of supported tags only and within the limits (tests/fakes/rich_html.py); drafts go to
private chats only. `refuse_rich` makes it answer as a server that will not take rich messages:
"missing" as one without the methods (404; an edit's rich_message is ignored, so its text is
missing), "bad" with a Bad Request naming the rich message.
Tests push updates into it and read what the bot sent; 429s and 5xx can be ordered up.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.rich_html import RichHTMLError
from tests.fakes.rich_html import check as check_rich
from tests.fakes.server import LoopbackServer
from tests.fakes.telegram_html import parse as parse_html
from tests.fakes.telegram_html import utf16_len

BOT_ID = 777000111
BOT_USERNAME = "news_brief_test_bot"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    result: Any = None  # what the server answered (a sent message has its message_id here)


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


class FakeBotAPI(LoopbackServer):
    def __init__(self, spec_path: Path, token: str = "123456:TEST-token") -> None:
        spec = json.loads(spec_path.read_text())
        self.methods: dict[str, dict[str, dict[str, Any]]] = {
            name: {f["name"]: f for f in m.get("fields", [])} for name, m in spec["methods"].items()
        }
        self.token = token
        self.calls: list[Call] = []
        self.errors: list[tuple[str, str]] = []  # (method, description) of rejected calls
        self.updates: list[dict[str, Any]] = []
        self.confirmed = 0
        self.first_poll_at: float | None = None
        self.cond = threading.Condition()
        self.update_ids = itertools.count(1)
        self.message_ids: dict[int, itertools.count[int]] = {}
        self.failures: dict[str, list[ApiError]] = {}
        self.chat_members: dict[tuple[int, int], str] = {}  # (chat, user) → status
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # what is visible in each chat
        self.drafts: list[tuple[int, int, str]] = []  # (chat, draft id, plain text) as streamed
        self.refuse_rich: str | None = None  # None | "missing" | "bad"
        self.files: dict[str, bytes] = {}  # file_id → content, for getFile and its download
        self.downloads: list[str] = []  # file paths downloaded, in order
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                files = f"/file/bot{api.token}/"
                if self.path.startswith(files):  # a file's download, at the path getFile gave
                    path = self.path[len(files):]
                    data = api.files.get(path.split("/", 1)[-1])
                    api.downloads.append(path)
                    if data is None:
                        self._json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.do_POST()

            def do_POST(self) -> None:
                prefix = f"/bot{api.token}/"
                if not self.path.startswith(prefix):
                    self._json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                    return
                method = self.path[len(prefix):].split("?")[0]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    return  # the client gave up mid-request (a cancelled call): Telegram would never see it
                try:
                    params = api._decode(self.headers.get("Content-Type", ""), body)
                    result = api.handle(method, params)
                    self._json(200, {"ok": True, "result": result})
                except ApiError as exc:
                    api.errors.append((method, exc.description))
                    payload: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
                    if exc.retry_after is not None:
                        payload["parameters"] = {"retry_after": exc.retry_after}
                    self._json(exc.code, payload)

        self._serve(Handler)

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def stop(self) -> None:
        with self.cond:
            self.cond.notify_all()  # release long polls
        super().stop()

    # --- what tests do ------------------------------------------------------------------------
    def push(self, kind: str, obj: dict[str, Any]) -> int:
        return self.push_all(kind, [obj])[0]

    def push_all(self, kind: str, objs: list[dict[str, Any]]) -> list[int]:
        """Updates that arrive together: the next getUpdates answer holds them all."""
        with self.cond:
            uids = [next(self.update_ids) for _ in objs]
            self.updates += [{"update_id": uid, kind: obj} for uid, obj in zip(uids, objs, strict=True)]
            self.cond.notify_all()
            return uids

    def add_file(self, file_id: str, data: bytes) -> dict[str, Any]:
        """A file the bot can fetch with getFile; returns its size and ids, as a message carries them."""
        self.files[file_id] = data
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(data)}

    @property
    def file_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    def fail(self, method: str, code: int, description: str, retry_after: int | None = None, times: int = 1) -> None:
        self.failures.setdefault(method, []).extend([ApiError(code, description, retry_after)] * times)

    def sent(self, chat_id: int | None = None,
             methods: tuple[str, ...] = ("sendMessage", "editMessageText", "sendRichMessage")) -> list[Call]:
        return [c for c in self.calls if c.method in methods
                and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)]

    def visible_text(self, chat_id: int) -> str:
        """What a user now sees in the chat from the bot (plain text, edits applied)."""
        return "\n\n".join(m.get("plain", "") for (c, _), m in sorted(self.messages.items()) if c == chat_id)

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError("timed out waiting for the bot")

    # --- the API --------------------------------------------------------------------------------
    def _decode(self, ctype: str, body: bytes) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        if ctype.startswith("application/json") and body:
            raw = json.loads(body)
            return raw
        if ctype.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                filename = part.get_filename()
                payload = part.get_payload(decode=True)
                raw[name] = {"filename": filename, "content": payload} if filename else payload.decode()
        elif body:
            raw = dict(parse_qsl(body.decode(), keep_blank_values=True))
        out: dict[str, Any] = {}
        for k, v in raw.items():
            if isinstance(v, str) and v[:1] in "{[":
                try:
                    v = json.loads(v)
                except json.JSONDecodeError:
                    pass
            out[k] = v
        return out

    def _check_spec(self, method: str, params: dict[str, Any]) -> None:
        if method not in self.methods:
            raise ApiError(404, "Not Found: method not found")
        fields = self.methods[method]
        for name in params:
            if name not in fields and not (isinstance(params[name], dict) and "filename" in params[name]):
                raise ApiError(400, f"Bad Request: unknown parameter {name} for {method}")
        for name, f in fields.items():
            if f["required"] and name not in params:
                raise ApiError(400, f"Bad Request: {name} is required")

    @staticmethod
    def _member(user_id: int, status: str) -> dict[str, Any]:
        return {"status": status, "user": {"id": user_id, "is_bot": False, "first_name": "U"},
                **({"can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
                    "can_delete_messages": True, "can_manage_video_chats": True, "can_restrict_members": True,
                    "can_promote_members": False, "can_change_info": True, "can_invite_users": True,
                    "can_post_stories": False, "can_edit_stories": False, "can_delete_stories": False}
                   if status == "administrator" else {})}

    def _check_text(self, text: Any, parse_mode: Any, limit: int = 4096) -> str:
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        plain = text
        if parse_mode == "HTML":
            try:
                plain = parse_html(text)
            except ValueError as exc:
                raise ApiError(400, f"Bad Request: {exc}") from exc
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > limit:
            raise ApiError(400, "Bad Request: message is too long")
        return plain

    def _check_rich(self, rich: Any) -> str:
        """An InputRichMessage as Telegram checks it; its plain text."""
        if self.refuse_rich == "bad":
            raise ApiError(400, "Bad Request: RICH_MESSAGE_INVALID: can't parse rich message")
        if not isinstance(rich, dict):
            raise ApiError(400, "Bad Request: rich_message must be an object")
        unknown = set(rich) - {"html", "markdown", "is_rtl", "skip_entity_detection"}
        if unknown:
            raise ApiError(400, f"Bad Request: unknown field {sorted(unknown)[0]} of the rich message")
        if ("html" in rich) == ("markdown" in rich):
            raise ApiError(400, "Bad Request: exactly one of html and markdown must be in the rich message")
        for flag in ("is_rtl", "skip_entity_detection"):
            if flag in rich and not isinstance(rich[flag], bool):
                raise ApiError(400, f"Bad Request: {flag} of the rich message must be a boolean")
        if "markdown" in rich:
            text = rich["markdown"]
            if not isinstance(text, str) or not text.strip() or len(text) > 32_768:
                raise ApiError(400, "Bad Request: rich message is empty or too long")
            return text
        try:
            return check_rich(rich["html"]).text
        except (RichHTMLError, TypeError) as exc:
            raise ApiError(400, f"Bad Request: can't parse rich message: {exc}") from exc

    def _check_markup(self, markup: Any) -> None:
        if not markup:
            return
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not (1 <= len(data.encode()) <= 64):
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _message(self, chat_id: int, **extra: Any) -> dict[str, Any]:
        ids = self.message_ids.setdefault(chat_id, itertools.count(10_000))
        mid = next(ids)
        chat_type = "private" if chat_id > 0 else ("channel" if str(chat_id).startswith("-100") and chat_id < -1009000000000 else "supergroup")
        msg = {"message_id": mid, "date": int(time.time()), "chat": {"id": chat_id, "type": chat_type},
               "from": {"id": BOT_ID, "is_bot": True, "first_name": "News Brief", "username": BOT_USERNAME}, **extra}
        return msg

    def handle(self, method: str, params: dict[str, Any]) -> Any:
        if self.refuse_rich == "missing":
            if method in ("sendRichMessage", "sendRichMessageDraft", "sendMessageDraft"):
                raise ApiError(404, "Not Found: method not found")
            params = {k: v for k, v in params.items() if k != "rich_message"}  # unknown there: ignored
        self._check_spec(method, params)
        with self.cond:
            queue = self.failures.get(method)
            if queue:
                raise queue.pop(0)
        if method != "getUpdates":
            call = Call(method, params)
            self.calls.append(call)
            call.result = self._answer(method, params)
            return call.result
        return self._answer(method, params)

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getUpdates" and self.first_poll_at is None:
            self.first_poll_at = time.monotonic()
        chat_id = int(params["chat_id"]) if "chat_id" in params else 0

        if method == "getMe":
            return {"id": BOT_ID, "is_bot": True, "first_name": "News Brief", "username": BOT_USERNAME,
                    "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
        if method == "getUpdates":
            # as on Telegram, asking with an offset confirms every earlier update for good
            offset = int(params.get("offset", 0) or 0)
            with self.cond:
                self.confirmed = max(self.confirmed, offset)
                offset = self.confirmed
            timeout = float(params.get("timeout", 0) or 0)
            deadline = time.monotonic() + min(timeout, 2.0)
            with self.cond:
                while True:
                    ready = [u for u in self.updates if u["update_id"] >= offset]
                    if ready or time.monotonic() >= deadline:
                        return ready[:100]
                    self.cond.wait(timeout=max(0.0, deadline - time.monotonic()))
        if method in ("deleteWebhook", "setMyCommands", "answerCallbackQuery", "sendChatAction",
                      "deleteMessage", "setWebhook", "close", "logOut"):
            if method == "deleteMessage":
                self.messages.pop((chat_id, int(params["message_id"])), None)
            return True
        if method == "sendMessage":
            plain = self._check_text(params.get("text"), params.get("parse_mode"))
            self._check_markup(params.get("reply_markup"))
            msg = self._message(chat_id, text=plain)
            self.messages[(chat_id, msg["message_id"])] = {"plain": plain, "html": params["text"]}
            return msg
        if method == "sendRichMessage":
            plain = self._check_rich(params["rich_message"])
            self._check_markup(params.get("reply_markup"))
            msg = self._message(chat_id, rich_message={"blocks": [{"type": "paragraph", "text": plain}]})
            self.messages[(chat_id, msg["message_id"])] = {"plain": plain, "html": params["rich_message"].get("html"),
                                                           "rich": True}
            return msg
        if method in ("sendRichMessageDraft", "sendMessageDraft"):
            if chat_id <= 0:
                raise ApiError(400, "Bad Request: drafts can be sent to private chats only")
            if int(params["draft_id"]) == 0:
                raise ApiError(400, "Bad Request: draft_id must be non-zero")
            if method == "sendRichMessageDraft":
                plain = self._check_rich(params["rich_message"])
            else:
                text = params.get("text", "")
                plain = self._check_text(text, params.get("parse_mode")) if text else ""
            self.drafts.append((chat_id, int(params["draft_id"]), plain))
            return True
        if method == "editMessageText":
            rich = "rich_message" in params
            if rich and "text" in params:
                raise ApiError(400, "Bad Request: text and rich_message are mutually exclusive")
            if rich:
                plain, new = self._check_rich(params["rich_message"]), params["rich_message"].get("html")
            else:
                plain, new = self._check_text(params.get("text"), params.get("parse_mode")), params.get("text")
            self._check_markup(params.get("reply_markup"))
            key = (chat_id, int(params["message_id"]))
            if key not in self.messages:
                raise ApiError(400, "Bad Request: message to edit not found")
            if self.messages[key]["html"] == new and not params.get("reply_markup"):
                raise ApiError(400, "Bad Request: message is not modified")
            self.messages[key] = {"plain": plain, "html": new, "rich": rich}
            return {**self._message(chat_id, text=plain), "message_id": key[1]}
        if method == "editMessageReplyMarkup":
            self._check_markup(params.get("reply_markup"))
            return self._message(chat_id, text="")
        if method == "sendDocument":
            doc = params.get("document")
            if not isinstance(doc, dict):
                raise ApiError(400, "Bad Request: document must be uploaded")
            if "caption" in params:
                self._check_text(params["caption"], params.get("parse_mode"), limit=1024)
            return self._message(chat_id, document={"file_id": "f1", "file_unique_id": "u1",
                                                    "file_name": doc["filename"]})
        if method == "getFile":
            file_id = str(params["file_id"])
            if file_id not in self.files:
                raise ApiError(400, "Bad Request: invalid file_id")
            if len(self.files[file_id]) > 20 * 1024 * 1024:
                raise ApiError(400, "Bad Request: file is too big")  # Telegram's limit for bots
            return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(self.files[file_id]),
                    "file_path": f"documents/{file_id}"}
        if method == "getChatMember":
            return self._member(int(params["user_id"]), self.chat_members.get((chat_id, int(params["user_id"])), "member"))
        if method == "getChatAdministrators":
            return [self._member(u, status) for (c, u), status in self.chat_members.items()
                    if c == chat_id and status in ("administrator", "creator")]
        raise ApiError(501, f"fake server does not implement {method}")
