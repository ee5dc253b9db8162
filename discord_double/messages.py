"""Messages and their files: created, adopted from a payload, edited, deleted, and shown the way
Discord sends them (with the users Discord would actually ping)."""

from __future__ import annotations

import copy
import mimetypes
import re
from collections.abc import Mapping
from typing import Any

from discord_double.ids import now_iso, snowflake
from discord_double.payloads import bot_user_payload, user_payload
from discord_double.records import MessageRecord

__all__ = ["CDN", "MessageStore"]

CDN = "https://cdn.discordapp.com"
EPHEMERAL, LOADING = 64, 128

_USER_MENTION = re.compile(r"<@!?(\d+)>")


class MessageStore:
    """Every live message the bot created (or that an interaction showed it), by id, and the
    bytes behind every attachment URL."""

    def __init__(self, *, application_id: int, bot_name: str, owner_id: int) -> None:
        self.application_id = application_id
        self.bot_name = bot_name
        self.owner_id = owner_id
        self.messages: dict[int, MessageRecord] = {}
        """Every live message, by id."""
        self.deleted_messages: dict[int, MessageRecord] = {}
        self.cdn: dict[str, bytes] = {}
        """Bytes served for attachment URLs (see :meth:`serve`)."""
        self.cdn_base = CDN
        """Where attachments of new messages live (the HTTP transport serves them itself)."""

    # ---- queries --------------------------------------------------------------------------

    def bot_user(self) -> dict[str, Any]:
        return bot_user_payload(self.application_id, self.bot_name)

    def serve(self, url: str, content: bytes) -> None:
        """Serve ``content`` for ``url`` (``Attachment.read()`` / ``Asset.read()``)."""
        self.cdn[url] = content

    def channel_messages(self, channel_id: int) -> list[MessageRecord]:
        """Live messages in a channel, oldest first (channel sends, follow-ups, originals)."""
        return sorted(
            (m for m in self.messages.values() if m["channel_id"] == channel_id),
            key=lambda m: m["id"],
        )

    def api_message(self, message_id: int) -> dict[str, Any]:
        """The message as Discord would deliver it (e.g. as ``button_press(message=...)``)."""
        rec = self.messages[message_id]
        data: dict[str, Any] = {
            "id": str(rec["id"]),
            "channel_id": str(rec["channel_id"]),
            "author": self.bot_user(),
            "content": rec["content"] or "",
            "timestamp": rec["timestamp"],
            "edited_timestamp": rec["edited_timestamp"],
            "tts": rec["tts"],
            "mention_everyone": rec["mention_everyone"],
            "mentions": copy.deepcopy(rec["mentions"]),
            "mention_roles": [],
            "attachments": copy.deepcopy(rec["attachment_objects"]),
            "embeds": copy.deepcopy(rec["embeds"]),
            "components": copy.deepcopy(rec["components"]),
            "pinned": False,
            "type": rec["type"],
            "flags": rec["flags"],
        }
        if rec["nonce"] is not None:
            data["nonce"] = rec["nonce"]
        if rec["kind"] in ("followup", "original", "webhook"):
            data["webhook_id"] = str(rec["webhook_id"] or self.application_id)
            data["application_id"] = str(self.application_id)
        if rec["message_reference"]:
            data["message_reference"] = copy.deepcopy(rec["message_reference"])
        return data

    # ---- changes --------------------------------------------------------------------------

    @staticmethod
    def _mentions(content: str, allowed: Any) -> tuple[list[dict[str, Any]], bool]:
        """Who Discord would ping for ``content`` under ``allowed_mentions``."""
        ids = list(dict.fromkeys(_USER_MENTION.findall(content)))
        everyone = "@everyone" in content or "@here" in content
        if not isinstance(allowed, Mapping):
            return [user_payload(int(i)) for i in ids], everyone
        parse = allowed.get("parse") or []
        if "users" not in parse:
            permitted = {str(u) for u in allowed.get("users") or []}
            ids = [i for i in ids if i in permitted]
        return [user_payload(int(i)) for i in ids], everyone and "everyone" in parse

    def _attachment_objects(
        self, channel_id: int, files: list[tuple[str, bytes]]
    ) -> list[dict[str, Any]]:
        out = []
        for name, content in files:
            aid = snowflake()
            url = f"{self.cdn_base}/attachments/{channel_id}/{aid}/{name}"
            self.cdn[url] = content
            out.append(
                {
                    "id": str(aid),
                    "filename": name,
                    "size": len(content),
                    "url": url,
                    "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
                    "content_type": mimetypes.guess_type(name)[0] or "application/octet-stream",
                }
            )
        return out

    def _create_message(
        self,
        *,
        channel_id: int,
        payload: Mapping[str, Any],
        files: list[tuple[str, bytes]],
        kind: str,
        interaction_id: int | None = None,
        extra_flags: int = 0,
        message_type: int = 0,
        webhook_id: int | None = None,
    ) -> MessageRecord:
        objects = self._attachment_objects(channel_id, files)
        content = str(payload.get("content") or "")
        mentions, everyone = self._mentions(content, payload.get("allowed_mentions"))
        rec: MessageRecord = {
            "id": snowflake(),
            "channel_id": channel_id,
            "kind": kind,
            "content": content,
            "embeds": list(payload.get("embeds") or []),
            "components": list(payload.get("components") or []),
            "allowed_mentions": payload.get("allowed_mentions"),
            "mentions": mentions,
            "mention_everyone": everyone,
            "attachments": [o["filename"] for o in objects],
            "attachment_objects": objects,
            "flags": int(payload.get("flags") or 0) | extra_flags,
            "nonce": payload.get("nonce"),
            "tts": bool(payload.get("tts", False)),
            "message_reference": payload.get("message_reference"),
            "interaction_id": interaction_id,
            "webhook_id": webhook_id,
            "type": message_type,
            "timestamp": now_iso(),
            "edited_timestamp": None,
        }
        self.messages[rec["id"]] = rec
        return rec

    def _adopt_message(self, msg: Mapping[str, Any]) -> MessageRecord:
        """Keep a message delivered in a payload (e.g. one sent by an earlier process)."""
        objects = copy.deepcopy(list(msg.get("attachments") or []))
        rec: MessageRecord = {
            "id": int(msg["id"]),
            "channel_id": int(msg.get("channel_id") or 0),
            "kind": "channel",
            "content": msg.get("content") or "",
            "embeds": copy.deepcopy(msg.get("embeds") or []),
            "components": copy.deepcopy(msg.get("components") or []),
            "allowed_mentions": None,
            "mentions": copy.deepcopy(list(msg.get("mentions") or [])),
            "mention_everyone": bool(msg.get("mention_everyone", False)),
            "attachments": [o["filename"] for o in objects],
            "attachment_objects": objects,
            "flags": int(msg.get("flags") or 0),
            "nonce": msg.get("nonce"),
            "tts": bool(msg.get("tts", False)),
            "message_reference": msg.get("message_reference"),
            "interaction_id": None,
            "webhook_id": None,
            "type": int(msg.get("type") or 0),
            "timestamp": msg.get("timestamp") or now_iso(),
            "edited_timestamp": msg.get("edited_timestamp"),
        }
        self.messages[rec["id"]] = rec
        return rec

    def _edit_message(
        self, rec: MessageRecord, payload: Any, files: list[tuple[str, bytes]]
    ) -> None:
        payload = payload if isinstance(payload, Mapping) else {}
        if "content" in payload:
            rec["content"] = str(payload["content"] or "")
        if "embeds" in payload:
            rec["embeds"] = list(payload["embeds"] or [])
        if "components" in payload:
            rec["components"] = list(payload["components"] or [])
        if "allowed_mentions" in payload:
            rec["allowed_mentions"] = payload["allowed_mentions"]
        # Editing never changes the ephemeral bit and always ends the "loading" state.
        base = int(payload["flags"] or 0) if "flags" in payload else rec["flags"]
        rec["flags"] = (base & ~(EPHEMERAL | LOADING)) | (rec["flags"] & EPHEMERAL)
        new_objects = self._attachment_objects(rec["channel_id"], files)
        if "attachments" in payload:
            keep = {
                str(a.get("id"))
                for a in payload["attachments"] or []
                if isinstance(a, Mapping) and a.get("id") is not None
            }
            kept = [o for o in rec["attachment_objects"] if str(o["id"]) in keep]
            rec["attachment_objects"] = kept + new_objects
        else:
            rec["attachment_objects"] = rec["attachment_objects"] + new_objects
        rec["attachments"] = [o["filename"] for o in rec["attachment_objects"]]
        rec["mentions"], rec["mention_everyone"] = self._mentions(
            rec["content"], rec["allowed_mentions"]
        )
        rec["edited_timestamp"] = now_iso()

    def _delete_message(self, message_id: int) -> None:
        rec = self.messages.pop(message_id, None)
        if rec is not None:
            self.deleted_messages[message_id] = rec
