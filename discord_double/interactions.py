"""INTERACTION_CREATE payloads as the gateway sends them: slash commands, autocomplete, buttons,
selects and modal submits, in a server or in a DM, with their options resolved."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from discord_double.ids import (
    APP_PERMISSIONS,
    APPLICATION_ID,
    CHANNEL_ID,
    DEFAULT_ATTACHMENT_SIZE_LIMIT,
    GUILD_ID,
    MEMBER_PERMISSIONS,
    USER_ID,
    snowflake,
)
from discord_double.payloads import (
    channel_payload,
    dm_channel_payload,
    member_payload,
    user_payload,
)

__all__ = [
    "attachment_option",
    "autocomplete",
    "button_press",
    "focused",
    "modal_submit",
    "modal_submit_for",
    "modal_text_inputs",
    "option",
    "select_choice",
    "slash_command",
    "subcommand",
    "subcommand_group",
]


def _token() -> str:
    return f"fake-interaction-token-{snowflake()}"


def option(name: str, value: Any, type: int | None = None) -> dict[str, Any]:
    """A command option. ``type`` is inferred for bool (5), int (4), float (10) and str (3).

    Other types: 6 user, 7 channel, 8 role, 9 mentionable, 11 attachment (value = the id; users,
    channels and roles are resolved automatically by ``slash_command``; attachments need
    ``attachments=`` or use :func:`attachment_option`).
    """
    if type is None:
        if isinstance(value, bool):
            type = 5
        elif isinstance(value, int):
            type = 4
        elif isinstance(value, float):
            type = 10
        elif isinstance(value, str):
            type = 3
        else:
            raise TypeError(f"cannot infer the option type of {value!r}; pass type=")
    if type in (6, 7, 8, 9, 11):
        value = str(value)
    return {"name": name, "type": type, "value": value}


def attachment_option(name: str, att: Mapping[str, Any]) -> dict[str, Any]:
    """An attachment option; ``slash_command`` adds ``att`` to ``data.resolved.attachments``."""
    opt = option(name, att["id"], 11)
    opt["_attachment"] = dict(att)
    return opt


def focused(name: str, value: Any = "", type: int = 3) -> dict[str, Any]:
    """The option being typed in an autocomplete request (value is the partial input)."""
    return {"name": name, "type": type, "value": value, "focused": True}


def subcommand(name: str, options: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"name": name, "type": 1, "options": options or []}


def subcommand_group(name: str, subcommands: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "type": 2, "options": subcommands}


def _walk_options(options: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for opt in options:
        yield opt
        if opt.get("type") in (1, 2):
            yield from _walk_options(opt.get("options") or [])


def _resolve(
    options: list[dict[str, Any]],
    guild_id: int | None,
    resolved: dict[str, Any],
) -> None:
    for opt in _walk_options(options):
        att = opt.pop("_attachment", None)
        if att is not None:
            resolved.setdefault("attachments", {})[str(att["id"])] = att
        kind, value = opt.get("type"), opt.get("value")
        if value is None or opt.get("focused"):
            continue
        if kind in (6, 9):
            resolved.setdefault("users", {}).setdefault(str(value), user_payload(int(value)))
            if guild_id is not None:
                member = member_payload(int(value))
                del member["user"]
                resolved.setdefault("members", {}).setdefault(str(value), member)
        elif kind == 7:
            resolved.setdefault("channels", {}).setdefault(
                str(value),
                {
                    "id": str(value),
                    "name": f"channel-{int(value) % 10000}",
                    "type": 0,
                    "permissions": str(APP_PERMISSIONS),
                },
            )
        elif kind == 8:
            resolved.setdefault("roles", {}).setdefault(
                str(value),
                {"id": str(value), "name": f"role-{int(value) % 10000}", "permissions": "0"},
            )


def _base_interaction(
    itype: int,
    data: dict[str, Any],
    *,
    user_id: int,
    guild_id: int | None,
    channel_id: int,
    permissions: int,
    locale: str,
    roles: Sequence[int],
    interaction_id: int | None,
    application_id: int,
    app_permissions: int,
    guild_locale: str,
    username: str | None,
    attachment_size_limit: int,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(interaction_id or snowflake()),
        "application_id": str(application_id),
        "type": itype,
        "data": data,
        "token": _token(),
        "version": 1,
        "locale": locale,
        "attachment_size_limit": attachment_size_limit,
        "app_permissions": str(app_permissions),
        "entitlements": [],
        "entitlement_sku_ids": [],
        "channel_id": str(channel_id),
    }
    if guild_id is not None:
        payload.update(
            guild_id=str(guild_id),
            guild_locale=guild_locale,
            guild={"id": str(guild_id), "locale": guild_locale, "features": []},
            member=member_payload(user_id, roles=roles, permissions=permissions, username=username),
            channel=channel_payload(channel_id, guild_id=guild_id, permissions=permissions),
            authorizing_integration_owners={"0": str(guild_id)},
            context=0,
        )
    else:
        user = user_payload(user_id, username=username)
        payload.update(
            user=user,
            channel=dm_channel_payload(channel_id, user),
            authorizing_integration_owners={"0": "0"},
            context=1,
        )
    if message is not None:
        payload["message"] = message
    return payload


def slash_command(
    name: str,
    options: list[dict[str, Any]] | None = None,
    *,
    user_id: int = USER_ID,
    guild_id: int | None = GUILD_ID,
    channel_id: int = CHANNEL_ID,
    permissions: int = MEMBER_PERMISSIONS,
    locale: str = "en-US",
    guild_locale: str = "en-US",
    attachments: Mapping[str, dict[str, Any]] | None = None,
    resolved: Mapping[str, Any] | None = None,
    roles: Sequence[int] = (),
    interaction_id: int | None = None,
    application_id: int = APPLICATION_ID,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    app_permissions: int = APP_PERMISSIONS,
    username: str | None = None,
    attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
    _interaction_type: int = 2,
) -> dict[str, Any]:
    """An APPLICATION_COMMAND (type 2) INTERACTION_CREATE payload.

    ``guild_id=None`` makes it a DM with the bot (``user`` instead of ``member``).
    ``command_guild_id`` must be set for commands registered to one guild only
    (``@app_commands.guilds(...)`` / ``tree.add_command(..., guild=...)``).
    """
    opts = copy.deepcopy(options or [])
    res: dict[str, Any] = copy.deepcopy(dict(resolved or {}))
    if attachments:
        res.setdefault("attachments", {}).update(copy.deepcopy(dict(attachments)))
    _resolve(opts, guild_id, res)
    data: dict[str, Any] = {
        "id": str(command_id or snowflake()),
        "name": name,
        "type": 1,
        "options": opts,
    }
    if res:
        data["resolved"] = res
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    return _base_interaction(
        _interaction_type,
        data,
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        permissions=permissions,
        locale=locale,
        roles=roles,
        interaction_id=interaction_id,
        application_id=application_id,
        app_permissions=app_permissions,
        guild_locale=guild_locale,
        username=username,
        attachment_size_limit=attachment_size_limit,
    )


def autocomplete(name: str, options: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """An APPLICATION_COMMAND_AUTOCOMPLETE (type 4) payload; exactly one option must be
    :func:`focused` (possibly inside :func:`subcommand`). Keyword arguments as ``slash_command``.
    """
    if sum(1 for o in _walk_options(options) if o.get("focused")) != 1:
        raise ValueError("autocomplete needs exactly one focused option")
    return slash_command(name, options, _interaction_type=4, **kwargs)


def _component_interaction(
    itype: int,
    data: dict[str, Any],
    *,
    message: dict[str, Any] | None,
    user_id: int,
    guild_id: int | None,
    channel_id: int | None,
    permissions: int,
    locale: str,
    roles: Sequence[int],
    interaction_id: int | None,
    application_id: int,
    app_permissions: int,
    guild_locale: str,
    username: str | None,
    attachment_size_limit: int,
) -> dict[str, Any]:
    if channel_id is None:
        channel_id = int(message["channel_id"]) if message is not None else CHANNEL_ID
    return _base_interaction(
        itype,
        data,
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        permissions=permissions,
        locale=locale,
        roles=roles,
        interaction_id=interaction_id,
        application_id=application_id,
        app_permissions=app_permissions,
        guild_locale=guild_locale,
        username=username,
        attachment_size_limit=attachment_size_limit,
        message=copy.deepcopy(message) if message is not None else None,
    )


def button_press(
    custom_id: str,
    *,
    message: dict[str, Any],
    component_type: int = 2,
    values: list[str] | None = None,
    user_id: int = USER_ID,
    guild_id: int | None = GUILD_ID,
    channel_id: int | None = None,
    permissions: int = MEMBER_PERMISSIONS,
    locale: str = "en-US",
    guild_locale: str = "en-US",
    roles: Sequence[int] = (),
    interaction_id: int | None = None,
    application_id: int = APPLICATION_ID,
    app_permissions: int = APP_PERMISSIONS,
    username: str | None = None,
    attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
) -> dict[str, Any]:
    """A MESSAGE_COMPONENT (type 3) payload for a button (or, with ``component_type``/``values``,
    a select) on ``message`` (``fake.api_message(id)`` or :func:`message_payload`).
    ``channel_id`` defaults to the message's channel.
    """
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
    if values is not None:
        data["values"] = values
    return _component_interaction(
        3,
        data,
        message=message,
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        permissions=permissions,
        locale=locale,
        roles=roles,
        interaction_id=interaction_id,
        application_id=application_id,
        app_permissions=app_permissions,
        guild_locale=guild_locale,
        username=username,
        attachment_size_limit=attachment_size_limit,
    )


def select_choice(
    custom_id: str, values: list[str], *, message: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """A string-select (component type 3) interaction choosing ``values``."""
    return button_press(custom_id, message=message, component_type=3, values=values, **kwargs)


def modal_submit(
    custom_id: str,
    fields: Mapping[str, str | list[str]],
    *,
    message: dict[str, Any] | None = None,
    user_id: int = USER_ID,
    guild_id: int | None = GUILD_ID,
    channel_id: int | None = None,
    permissions: int = MEMBER_PERMISSIONS,
    locale: str = "en-US",
    guild_locale: str = "en-US",
    roles: Sequence[int] = (),
    interaction_id: int | None = None,
    application_id: int = APPLICATION_ID,
    app_permissions: int = APP_PERMISSIONS,
    username: str | None = None,
    attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
) -> dict[str, Any]:
    """A MODAL_SUBMIT (type 5) payload. ``fields`` maps a text input's custom_id to its value
    (a list of strings for a select inside the modal).
    """
    rows: list[dict[str, Any]] = []
    for cid, value in fields.items():
        if isinstance(value, list):
            comp: dict[str, Any] = {"type": 3, "custom_id": cid, "values": value}
        else:
            comp = {"type": 4, "custom_id": cid, "value": value}
        rows.append({"type": 1, "components": [comp]})
    return _component_interaction(
        5,
        {"custom_id": custom_id, "components": rows},
        message=message,
        user_id=user_id,
        guild_id=guild_id,
        channel_id=channel_id,
        permissions=permissions,
        locale=locale,
        roles=roles,
        interaction_id=interaction_id,
        application_id=application_id,
        app_permissions=app_permissions,
        guild_locale=guild_locale,
        username=username,
        attachment_size_limit=attachment_size_limit,
    )


def modal_text_inputs(modal: Mapping[str, Any]) -> dict[str, str]:
    """``{label: custom_id}`` of the text inputs of a sent modal (``fake.modal_sent(iid)``);
    handles both action-row and ``discord.ui.Label`` layouts.
    """
    out: dict[str, str] = {}

    def walk(components: Iterable[Mapping[str, Any]], label: str | None) -> None:
        for comp in components:
            if comp.get("type") == 18:
                walk([comp["component"]], comp.get("label"))
            elif comp.get("type") == 1:
                walk(comp.get("components") or [], None)
            elif comp.get("type") == 4:
                out[str(label or comp.get("label"))] = comp["custom_id"]

    walk(modal.get("components") or [], None)
    return out


def modal_submit_for(
    modal: Mapping[str, Any], values: Mapping[str, str], **kwargs: Any
) -> dict[str, Any]:
    """A submit of a sent modal; ``values`` is keyed by text-input label or custom_id."""
    by_label = modal_text_inputs(modal)
    fields: dict[str, str | list[str]] = {}
    for key, value in values.items():
        fields[by_label.get(key, key)] = value
    return modal_submit(str(modal["custom_id"]), fields, **kwargs)
