"""English and Simplified Chinese: the commands as Discord shows them, and the bot's own messages.

Two layers, both plain dicts so that adding a string is one line in each language:

* **Commands** (names, descriptions, options, choices) are translated by :class:`Translator`, which
  the command tree asks once per string and locale while it builds the payload for ``tree.sync()``
  (``tree.set_translator(Translator())`` before syncing). English is the source language: the
  catalogues are keyed by the English text exactly as the code declares it, and anything not found
  simply stays English. Names go in :data:`COMMAND_NAMES_ZH` (Discord's name rules apply: lowercase,
  1-32 letters, digits, ``-`` or ``_``; Chinese characters are letters), descriptions and choice
  names in :data:`COMMAND_TEXTS_ZH` (1-100 characters). Discord always sends the English (default)
  names back in an interaction, so translating names never changes how commands are dispatched.
* **Messages** are looked up by a descriptive key with :func:`t` (``t("status.title.working",
  locale)``), in the member's Discord locale (``interaction.locale`` or the stored
  ``Requester.locale``); placeholders use :meth:`str.format`. Any locale other than Simplified
  Chinese, and any key the Chinese catalogue lacks, falls back to English.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final, TypeAlias

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

log = logging.getLogger(__name__)

ENGLISH: Final = "en"
CHINESE: Final = "zh-CN"  # discord.Locale.chinese: Simplified Chinese
_CHINESE_ALIASES = frozenset({"zh-cn", "zh_cn", "zh", "zh-hans", "zh-hans-cn", "zh_hans"})

#: What the functions here accept as a member's language: a Discord locale, its value such as
#: "zh-CN" (as stored in `generations.locale`), or None for English.
AnyLocale: TypeAlias = str | discord.Locale | None

# --- commands ---------------------------------------------------------------------------------

#: Command, group, subcommand and option names. Every value must match Discord's rule for
#: localized names: ``^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$``, lowercase where possible.
#: One English name has one translation wherever it appears, so siblings must stay distinct.
COMMAND_NAMES_ZH: dict[str, str] = {
    # member commands
    "video": "视频",
    "videos": "我的视频",
    "videohelp": "视频帮助",
    "credits": "积分",
    # /video options
    "prompt": "提示词",
    "negative_prompt": "反向提示词",
    "quality": "画质",
    "aspect_ratio": "宽高比",
    "duration": "时长",
    "seed": "种子",
    "prompt_extend": "提示词扩展",
    "audio": "音频",
    "audio_url": "音频链接",
    # /videomod and its groups
    "videomod": "视频管理",
    "log": "记录",
    "show": "查看",
    "export": "导出",
    "audit": "审计",
    "ban": "封禁",
    "unban": "解封",
    "bans": "封禁列表",
    "config": "设置",
    "log_channel": "日志频道",
    "blocklist": "屏蔽词",
    "add": "添加",
    "remove": "移除",
    "list": "列表",
    "grant": "发放",
    "take": "扣除",
    "allowance": "额度",
    "refund": "退还",
    "limits": "限制",
    "balance": "余额",
    # /videomod options
    "user": "成员",
    "member": "成员",
    "role": "身份组",
    "status": "状态",
    "since": "起始时间",
    "task_id": "任务id",
    "moderator": "管理员",
    "reason": "原因",
    "channel": "频道",
    "pattern": "关键词",
    "regex": "正则",
    "amount": "数量",
    "period": "周期",
    "page": "页码",
    "topic": "主题",
    "default_credits": "默认积分",
    "max_running": "同时生成上限",
    "max_queued": "排队上限",
    "cooldown": "冷却时间",
    "guild_cap": "服务器上限",
    "reset": "重置",
}

#: Descriptions (commands, groups, options) and choice names, keyed by their English text.
COMMAND_TEXTS_ZH: dict[str, str] = {
    # /video (cogs/video.py)
    "Make a short video from a text prompt": "根据文字提示词生成一段短视频",
    "What should happen in the video (English or Chinese, up to 5000 characters)": (
        "视频里要发生什么（中文或英文，最多 5000 个字符）"
    ),
    "What must not appear (up to 500 characters)": "不希望出现的内容（最多 500 个字符）",
    "Resolution: 720p (default) or 1080p": "画质：720p（默认）或 1080p",
    "Shape of the video (default 16:9)": "视频的宽高比（默认 16:9）",
    "Length in seconds, 2 to 15 (default 5)": "时长（秒），2 到 15（默认 5）",
    "Fixed seed, 1 to 2147483647, to reproduce a result (default random)": (
        "固定种子，1 到 2147483647，用于复现结果（默认随机）"
    ),
    "Let a language model enrich a short prompt first (default off)": (
        "先让语言模型扩写简短的提示词（默认关闭）"
    ),
    "Driving audio: a .wav or .mp3 file, 2-30 s, up to 15 MB": (
        "驱动音频：.wav 或 .mp3 文件，2–30 秒，最大 15 MB"
    ),
    "Driving audio as an https link to a .wav or .mp3 file": (
        "驱动音频的 https 链接（.wav 或 .mp3 文件）"
    ),
    "720p (default)": "720p（默认）",
    "1080p (sharper, costs more)": "1080p（更清晰，费用更高）",
    "16:9 landscape · 1280×720 (720p), 1920×1080 (1080p)": (
        "16:9 横屏 · 1280×720（720p），1920×1080（1080p）"
    ),
    "9:16 portrait · 720×1280 (720p), 1080×1920 (1080p)": (
        "9:16 竖屏 · 720×1280（720p），1080×1920（1080p）"
    ),
    "1:1 square · 960×960 (720p), 1440×1440 (1080p)": (
        "1:1 方形 · 960×960（720p），1440×1440（1080p）"
    ),
    "4:3 classic · 1104×832 (720p), 1648×1248 (1080p)": (
        "4:3 经典横屏 · 1104×832（720p），1648×1248（1080p）"
    ),
    "3:4 classic portrait · 832×1104 (720p), 1248×1648 (1080p)": (
        "3:4 经典竖屏 · 832×1104（720p），1248×1648（1080p）"
    ),
    # /credits (cogs/credits.py)
    "See your video credits and recent charges": "查看你的视频积分和最近的扣费记录",
    # /videos (cogs/history.py)
    "Your videos here: prompts, status, links, cost": (
        "你在本服务器的视频：提示词、状态、链接、费用"
    ),
    # /videohelp (cogs/help.py)
    "How to make videos, and what each option does": "如何生成视频，以及每个选项的作用",
    # /videomod (cogs/moderation.py)
    "Moderate the video bot: log, export, bans, blocklist, audit": (
        "管理视频机器人：记录、导出、封禁、屏蔽词、审计"
    ),
    "The video bot's settings": "视频机器人的设置",
    "Words and patterns refused in prompts": "提示词中禁止出现的词语和规则",
    "Who made which video: newest first, filterable": "谁生成了哪些视频：最新的在前，可筛选",
    "Only this member's videos": "只看该成员的视频",
    "Only videos in this state": "只看处于该状态的视频",
    "Only since: 30m (minutes), 24h, 7d, 2w, or a date such as 2026-11-01 (UTC)": (
        "只看此后的：30m（分钟）、24h、7d、2w，或日期，如 2026-11-01（UTC）"
    ),
    "completed": "已完成",
    "failed": "失败",
    "expired (took too long)": "已超时（耗时过长）",
    "in progress": "进行中",
    "cancelled": "已取消",
    "One video in full: prompt, settings, times, cost": (
        "查看一个视频的全部信息：提示词、设置、时间、费用"
    ),
    "Its task id (type to search recent videos by id or prompt)": (
        "视频的任务 ID（输入 ID 或提示词可搜索最近的视频）"
    ),
    "Download the video log as a CSV file": "将视频记录下载为 CSV 文件",
    "What moderators did, newest first": "管理员的操作记录，最新的在前",
    "Only this moderator's actions": "只看该管理员的操作",
    "Only actions about this member": "只看与该成员有关的操作",
    "Stop a member from making videos in this server": "禁止某个成员在本服务器生成视频",
    "The member": "成员",
    "Why (kept in the audit log, not shown to them)": "原因（记入审计日志，不会告知对方）",
    "Let a banned member make videos again": "允许被封禁的成员重新生成视频",
    "Who is banned from making videos in this server": "本服务器中被禁止生成视频的成员",
    "Why (kept in the audit log)": "原因（记入审计日志）",
    "Post every request, result and moderator action in a channel": (
        "在指定频道发布每次请求、结果和管理操作"
    ),
    "Where to post; leave it out to stop posting": "发布到哪个频道；留空则停止发布",
    "Refuse prompts with a word, phrase or /regex/": "拒绝包含某个词、短语或 /正则/ 的提示词",
    "A word or phrase (whole words, any case), or a regular expression as /.../": (
        "词或短语（按整词匹配，不区分大小写），或写成 /.../ 的正则表达式"
    ),
    "Treat the pattern as a regular expression (same as writing it as /.../)": (
        "将关键词视为正则表达式（等同于写成 /.../）"
    ),
    "Allow a blocked word or pattern again": "重新允许已屏蔽的词或规则",
    "The entry as the list shows it": "列表中显示的条目",
    "Show the blocked words and patterns": "显示已屏蔽的词和规则",
    # /videomod credits, limits, balance (cogs/credits.py)
    "Members' video credits: show, grant, take, allowances, refunds": (
        "成员的视频积分：查看、发放、扣除、额度、退还"
    ),
    "A member's credits and recent changes": "查看某个成员的积分和最近变动",
    "Give a member extra credits for this period": "为成员发放本周期的额外积分",
    "Take credits from a member for this period": "扣除成员本周期的积分",
    "Set a member's or a role's credits per period": "设置成员或身份组每个周期的积分额度",
    "Give back the credits a video cost": "退还某个视频花费的积分",
    "Show or change this server's video limits": "查看或修改本服务器的视频限制",
    "The EvoLink account's remaining balance": "EvoLink 账户的剩余余额",
    "How many credits": "积分数量",
    "The role": "身份组",
    "Credits per period; leave it out to remove the override": "每个周期的积分；留空则取消单独设置",
    "The video's task id": "视频的任务 ID",
    "How often credits renew": "积分多久重置一次",
    "daily": "每天",
    "weekly": "每周",
    "monthly": "每月",
    "once": "一次性",
    "Credits each member gets per period": "每个成员每个周期获得的积分",
    "Videos a member may have in progress at once": "每个成员可同时生成的视频数",
    "Videos a member may have waiting in the queue": "每个成员可排队等待的视频数",
    "Seconds a member must wait between two videos": "每个成员两次生成视频之间需等待的秒数",
    "Credits this server may spend per period": "本服务器每个周期可花费的积分",
    "Forget this server's own limits and use the bot's defaults": (
        "清除本服务器的单独限制，改用机器人的默认设置"
    ),
    "Why": "原因",
}


class Translator(app_commands.Translator):
    """Simplified Chinese for command names, descriptions, options and choices; None otherwise.

    Install with ``await bot.tree.set_translator(Translator())`` before ``tree.sync()``.
    """

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if locale is not discord.Locale.chinese:
            return None
        return command_text_zh(string.message, context.location)


def command_text_zh(message: str, location: Where) -> str | None:
    """The Chinese for one command string, or None to keep the English."""
    if location in (Where.command_name, Where.group_name, Where.parameter_name):
        return COMMAND_NAMES_ZH.get(message)
    if location in (
        Where.command_description,
        Where.group_description,
        Where.parameter_description,
        Where.choice_name,
    ):
        return COMMAND_TEXTS_ZH.get(message)
    return None


def option_label(name: str, locale: str | discord.Locale | None) -> str:
    """An option's name as the member sees it in Discord: `quality` is `画质` in Chinese."""
    if language(locale) == CHINESE:
        return COMMAND_NAMES_ZH.get(name, name)
    return name


# --- messages ---------------------------------------------------------------------------------

_NOT_CHARGED = "You were not charged for it."
_NOT_CHARGED_ZH = "本次没有扣除任何积分。"
_NOTHING_CHARGED = "Nothing was charged."
_NOTHING_CHARGED_ZH = "本次没有扣除任何积分。"

EN: dict[str, str] = {
    # bot/render.py
    "common.not_charged": _NOT_CHARGED,
    "common.refunded": "Every credit it held was given back.",
    "failure.content_policy_violation": (
        "EvoLink's safety filter blocked this video. Try describing the scene differently."
    ),
    "failure.invalid_parameters": "EvoLink could not use these settings. Try other options.",
    "failure.request_cancelled": "The task was cancelled at EvoLink.",
    "failure.cancelled": "It was cancelled before the video was made.",
    "failure.generation_failed_no_content": (
        "EvoLink could not generate this video. Please try again."
    ),
    "failure.generation_timeout": "EvoLink took too long to make this video. Please try again.",
    "failure.service_error": "EvoLink had a problem making this video. Please try again.",
    "failure.service_unavailable": (
        "EvoLink's video service is unavailable. Try again in a few minutes."
    ),
    "failure.resource_exhausted": "EvoLink is overloaded right now. Try again in a few minutes.",
    "failure.quota_exceeded": "EvoLink is limiting requests right now. Try again in a few minutes.",
    "failure.resource_not_found": "EvoLink no longer knows this task. Please try again.",
    "failure.task_not_found": "EvoLink no longer knows this task. Please try again.",
    "failure.expired": "EvoLink did not finish this video in time, so the bot stopped waiting.",
    "failure.submit_unconfirmed": (
        "EvoLink never confirmed that this video started, so the bot stopped waiting. "
        "Please try again."
    ),
    "failure.unknown": "EvoLink could not make this video. Please try again.",
    "failure.unknown_detail": "EvoLink could not make this video ({detail}). Please try again.",
    "submit.bad_request": f"EvoLink refused this request: {{message}}. {_NOT_CHARGED}",
    "submit.key_refused": (
        "The bot's EvoLink key was refused, so no video can be made right now. "
        f"A server admin has to fix the bot's settings. {_NOT_CHARGED}"
    ),
    "submit.insufficient_balance": (
        "The EvoLink account that pays for this server's videos is out of credits. "
        f"Please tell a moderator. {_NOT_CHARGED}"
    ),
    "submit.rate_limited": f"EvoLink is busy. Try again in a minute. {_NOT_CHARGED}",
    "submit.unavailable": (
        f"EvoLink is having trouble right now. Try again in a few minutes. {_NOT_CHARGED}"
    ),
    "request.invalid": (
        "I can't start this video yet:\n{problems}\nNothing was sent, and you were not charged."
    ),
    "status.title.queued": "⏳ Waiting for a free slot",
    "status.queued": (
        "Waiting, in your queue: it starts when one of your videos finishes. "
        "Cancel it any time before then for a full refund."
    ),
    "status.queued.position": (
        "Waiting, #{position} in your queue: it starts when one of your videos finishes. "
        "Cancel it any time before then for a full refund."
    ),
    "status.title.cancelled": "🚫 Cancelled",
    "status.cancelled": "Cancelled before it started. Every credit it held was given back.",
    "status.title.completed": "✅ Video ready",
    "status.completed": "Done: the video is posted below.",
    "status.title.failed": "❌ Video failed",
    "status.failed": f"{{reason}} {_NOT_CHARGED}",
    "status.title.working": "🎬 Making your video",
    "status.state.running": "Rendering",
    "status.state.pending": "Queued at EvoLink",
    "status.elapsed": "Elapsed {elapsed}",
    "status.elapsed_estimate": "Elapsed {elapsed} · usually about {estimate}",
    "status.cost": "{credits} credits",
    "field.status": "Status",
    "field.prompt": "Prompt",
    "field.negative_prompt": "Negative prompt",
    "field.settings": "Settings",
    "field.cost": "Cost",
    "field.took": "Took",
    "footer.task": "Task {task_id}",
    "duration.minutes": "{minutes}m {seconds:02d}s",
    "duration.seconds": "{seconds}s",
    "settings.duration": "{seconds} s",
    "settings.seed": "seed {seed}",
    "settings.prompt_extend": "prompt extend",
    "settings.custom_audio": "custom audio",
    "settings.random_seed": "random seed",
    "result.ready": (
        "{mention} your video is ready: {url}\n"
        "-# The link expires 24 hours after it was made: download the video to keep it."
    ),
    "result.failed": f"{{mention}} your video could not be made. {{reason}} {_NOT_CHARGED}",
    "result.ready.attached": "{mention} your video is ready.",
    "result.ready.expires": (
        "{mention} your video is ready: {url}\n"
        "-# The link expires 24 hours after it was made ({expires}): download the video to keep it."
    ),
    # bot/delivery.py
    "delivery.dm_note": "I could not post in {channel}.",
    # cogs/video.py
    "video.unconfirmed": (
        "EvoLink did not confirm that your video started. I'm checking again and will post it "
        "here if it did; if it didn't, I'll tell you and give the credits back. "
        "You won't pay twice."
    ),
    "video.reserved": "Reserved {credits} credits.",
    "video.guild_only": "Use /video in a server channel.",
    "video.cancel.label": "Cancel",
    "video.cancel.not_yours": "Only the member who asked for this video can cancel it.",
    "video.cancel.too_late": (
        "This video has already started, and EvoLink cannot stop a started video, "
        "so it can no longer be cancelled."
    ),
    "video.cancel.done": "Cancelled. Every credit it held was given back.",
    "video.cancel.already": "This request was already cancelled; its credits were given back.",
    "video.low_balance": (
        "EvoLink refused a video because the account's balance cannot cover it. Members can't "
        "make videos until the EvoLink account is topped up."
    ),
    # bot/moderation.py (what a banned member, or a blocked prompt, is told)
    "moderation.banned": (
        "You can't make videos in this server at the moment. "
        "If you think this is a mistake, please contact the server's moderators."
    ),
    "moderation.blocked": (
        "This prompt contains a word or phrase this server doesn't allow, so the video was not "
        "started and nothing was charged. Please rephrase it."
    ),
    # cogs/results.py
    "results.again": "🔁 Regenerate",
    "results.seed": "🌱 Use seed",
    "results.edit": "✏️ Edit & retry",
    "results.not_yours": (
        "Only the member who asked for this video can use its buttons. Try `/video` yourself!"
    ),
    "results.random_seed": (
        "This video used a random seed that EvoLink does not report, so it can't be reused. "
        "Regenerate makes a new one with a seed you can keep."
    ),
    "results.too_long_to_edit": (
        "This prompt is longer than a Discord form can hold ({max} characters), so it can't be "
        "edited here. Regenerate runs it again as it is, or send a new `/video`."
    ),
    "results.modal.title": "Edit & retry",
    "results.modal.prompt": "Prompt",
    "results.modal.negative_prompt": "Negative prompt (optional)",
    # cogs/help.py (/videohelp; {option}, {audio}... are option names, from option_label())
    "help.title": "🎬 How to make videos",
    "help.intro": (
        "Type `/video` and describe what should happen. A status message shows the progress, "
        "and the finished video is posted in this channel with a mention of you. "
        "Only you can see this help."
    ),
    "help.options": "Options",
    "help.option.prompt": (
        "`{option}` (required): what happens in the video, in English or Chinese, "
        "up to {max:,} characters."
    ),
    "help.option.negative_prompt": "`{option}`: what must not appear, up to {max} characters.",
    "help.option.quality": "`{option}`: 720p (default) or 1080p (sharper, costs more).",
    "help.option.aspect_ratio": "`{option}`: {choices} (default {default}).",
    "help.option.duration": (
        "`{option}`: {min} to {max} seconds (default {default}); the cost grows with it."
    ),
    "help.option.seed": (
        "`{option}`: a number from {min} to {max:,}. The same seed and settings give a similar "
        "video again (default random)."
    ),
    "help.option.prompt_extend": (
        "`{option}`: a language model enriches your prompt first; good for short prompts "
        "(default off)."
    ),
    "help.option.audio": (
        "`{audio}` or `{audio_url}`: driving audio, a .wav or .mp3 file or an https link "
        "(not both), 2-30 s, up to 15 MB. Longer than the video: its first seconds are used. "
        "Left out: the model adds matching music or sound effects."
    ),
    "help.prices": "Prices",
    "help.price.one": "{quality}: {price} credit per second; a 5 s video costs {example}",
    "help.price.other": "{quality}: {price} credits per second; a 5 s video costs {example}",
    "help.prices.note": (
        "The cost is held when you ask, and given back in full if no video comes of it."
    ),
    "help.credits": "Your credits",
    "help.credits.held": "{held} held by videos in progress",
    "help.credits.renews": "Your credits renew {when}.",
    "help.credits.no_renewal": "Your credits do not renew.",
    "help.credits.more": "`/credits` lists your recent charges.",
    "help.shots": "One shot or several",
    "help.shots.text": (
        "Write **generate a single-shot video** for one continuous take, or **generate a "
        "multi-shot video** for several shots; say neither and the model decides from your "
        "prompt. To place the cuts yourself, give each shot its time:\n"
        "`Shot 1 [0-3s] wide angle: a fox wakes up in the snow`\n"
        "`Shot 2 [3-5s] close-up: it leaps toward the camera`\n"
        "Keep the times within the video's `{duration}`."
    ),
    "help.tips": "Better results",
    "help.tips.text": (
        "• Describe the subject, the action, the place, the light and the camera movement.\n"
        "• Put what you don't want in `{negative_prompt}` (e.g. blurry, text, watermark) "
        "rather than in the prompt.\n"
        "• A short prompt? Turn on `{prompt_extend}`.\n"
        "• Iterating? Fix a `{seed}` and change one thing at a time. 🌱 Use seed under a video "
        "repeats its seed for you.\n"
        "• English and Chinese prompts both work."
    ),
    "help.footer": "Under each video: 🔁 Regenerate · 🌱 Use seed · ✏️ Edit & retry",
    # cogs/credits.py
    "credits.title": "Your video credits",
    "credits.field.remaining": "Remaining",
    "credits.unlimited": "Unlimited",
    "credits.remaining.daily": "**{remaining}** of {allowance} per day",
    "credits.remaining.weekly": "**{remaining}** of {allowance} per week",
    "credits.remaining.monthly": "**{remaining}** of {allowance} per month",
    "credits.remaining.once": "**{remaining}** of {allowance} in all",
    "credits.remaining.other": "**{remaining}** of {allowance}",
    "credits.field.held": "Held by videos in progress",
    "credits.field.renews": "Renews",
    "credits.renews_never": "never (one-off)",
    "credits.field.recent": "Recent changes",
    "credits.nothing_yet": "Nothing yet.",
    "credits.footer": (
        "A 5 s video costs {price_720p} credits at 720p, {price_1080p} at 1080p; "
        "cost grows with the duration."
    ),
    "credits.mod_title": "Credits of {name}",
    "ledger.reserve": "reserved",
    "ledger.settle": "settled",
    "ledger.refund": "refunded",
    "ledger.grant": "granted",
    "ledger.take": "taken",
    "ledger.video": "video #{generation_id}",
    "period.daily": "per day",
    "period.weekly": "per week",
    "period.monthly": "per month",
    "period.once": "in all",
    # bot/credits.py (refusals; `.one`/`.other` are plural forms, see tn())
    "credits.when_never": "never (a one-off balance)",
    "refusal.allowance.renews": (
        "This video would cost {cost} credits and you have {left} left. "
        f"Your credits renew {{when}}. A shorter or 720p video costs less. {_NOTHING_CHARGED}"
    ),
    "refusal.allowance.no_renewal": (
        "This video would cost {cost} credits and you have {left} left. "
        f"Your credits do not renew. A shorter or 720p video costs less. {_NOTHING_CHARGED}"
    ),
    "refusal.cap.server": (
        f"This server has used all the video credits it may spend for now. {_NOTHING_CHARGED}"
    ),
    "refusal.cap.server.renews": (
        "This server has used all the video credits it may spend for now. "
        f"It renews {{when}}. {_NOTHING_CHARGED}"
    ),
    "refusal.cap.bot": (
        f"The bot has used all the video credits it may spend for now. {_NOTHING_CHARGED}"
    ),
    "refusal.cap.bot.renews": (
        "The bot has used all the video credits it may spend for now. "
        f"It renews {{when}}. {_NOTHING_CHARGED}"
    ),
    "refusal.busy.one": (
        f"You already have {{count}} video in progress. Try again when one is done. "
        f"{_NOTHING_CHARGED}"
    ),
    "refusal.busy.other": (
        f"You already have {{count}} videos in progress. Try again when one is done. "
        f"{_NOTHING_CHARGED}"
    ),
    "refusal.busy_waiting.one": (
        "You already have {count} video in progress and {queued} waiting. "
        f"Try again when one is done. {_NOTHING_CHARGED}"
    ),
    "refusal.busy_waiting.other": (
        "You already have {count} videos in progress and {queued} waiting. "
        f"Try again when one is done. {_NOTHING_CHARGED}"
    ),
    "refusal.cooldown.one": (
        f"Please wait {{count}} more second before your next video. {_NOTHING_CHARGED}"
    ),
    "refusal.cooldown.other": (
        f"Please wait {{count}} more seconds before your next video. {_NOTHING_CHARGED}"
    ),
    # bot/validation.py ({option}: the option's name, from option_label())
    "validation.one_of": "`{option}` must be one of {choices}.",
    "validation.duration": "`{option}` must be a whole number of seconds from {min} to {max}.",
    "validation.whole_number": "`{option}` must be a whole number from {min} to {max:,}.",
    "validation.boolean": "`{option}` must be true or false.",
    "validation.audio_both": "Give either an `{audio}` file or an `{audio_url}`, not both.",
    "validation.required": "`{option}` is required: describe the video you want.",
    "validation.not_text": "`{option}` must be text.",
    "validation.bad_character": "`{option}` contains a character that cannot be sent.",
    "validation.empty": "`{option}` is empty: describe the video you want.",
    "validation.too_long": (
        "`{option}` is {length:,} characters long; the limit is {limit:,}. Shorten it."
    ),
    "validation.audio_type": "`{option}` must be a .wav or .mp3 file.",
    "validation.audio_size": "`{option}` is {size_mb:.1f} MB; the limit is {limit_mb} MB.",
    "validation.https": "`{option}` must be a link starting with https://.",
    "validation.url_too_long": "`{option}` is longer than {limit} characters.",
    "validation.url_spaces": "`{option}` must not contain spaces.",
    "validation.url_public": "`{option}` must point at a public web address.",
    # bot/client.py
    "error.unexpected": (
        "Something went wrong on the bot's side and this command did not finish. "
        "You were not charged. Please try again in a moment."
    ),
    "error.closing": (
        "The video bot is restarting. Please try again in a minute; nothing was charged."
    ),
    "error.check_failed": "You can't use this command here.",
    "modlog.key_refused": (
        "EvoLink refused the bot's API key, so no video can be made. The bot's owner has to "
        "put a valid EVOLINK_API_KEY in .env and restart it. Members are told and not charged."
    ),
    "error.mismatch": (
        "This command's options did not match what the bot expects (Discord may still be "
        "updating its command list). Please try again in a minute; nothing was charged."
    ),
    "error.attachment_missing": (
        "The attached file could not be read. Please attach it again; nothing was charged."
    ),
    "error.guild_only": "This command works only in a server.",
    # cogs/history.py
    "history.title": "Your videos",
    "history.description": (
        "Only you can see this list. Video links expire 24 hours after they are made."
    ),
    "history.not_yours": (
        "These pages belong to someone else. Use `/videos` to see your own videos."
    ),
    # bot/mod_render.py: the lines of a log page (/videos shows a member their own)
    "log.status.queued": "⏳ waiting for a slot",
    "log.status.requested": "⏳ starting",
    "log.status.submitted": "⏳ queued at EvoLink",
    "log.status.running": "🎬 rendering",
    "log.status.completed": "✅ completed",
    "log.status.failed": "❌ failed",
    "log.status.expired": "⌛ expired",
    "log.status.cancelled": "🚫 cancelled",
    "log.credits_held": "{credits} credits (held)",
    "log.no_charge": "no charge",
    "log.refunded": "{credits} credits refunded",
    "log.open_video": "[Open the video]({url})",
    "log.link_too_long": "(the video link is too long to show here)",
    "log.empty.title": "Nothing here",
    "log.empty": "No generations match.",
    "log.footer": "Page {page} · newest first",
    # cogs/paging.py
    "paging.previous": "Previous",
    "paging.next": "Next",
    # cogs/moderation.py (member-facing refusals only)
    "mod.not_a_moderator": (
        "Only members with the **Manage Server** permission can use `/videomod`. "
        "If you think you should have access, ask a server admin."
    ),
    "mod.not_your_pages": (
        "Only the moderator who asked can turn these pages: run the command yourself."
    ),
    "mod.pick_text_channel": "Please pick a text channel.",
    "mod.status_one_of": "`status` must be one of: {choices}.",
    "mod.show.not_found": "I can't find a video with task id {task_id} in this server.",
    "mod.show.full_prompt": "Full prompt",
    "mod.show.attached": "Attached as a text file.",
    "mod.export.none": "No videos match these filters.",
    "mod.export.too_large": (
        "The export of {rows:,} videos is too large to upload here, even compressed. "
        "Narrow it with `since` or `user`."
    ),
    "mod.export.done": "📄 {rows:,} video(s), newest first, times in UTC.",
    "mod.export.done_packed": (
        "📄 {rows:,} video(s), newest first, times in UTC "
        "(gzip-compressed to fit Discord's upload limit)."
    ),
    "mod.ban.already": "{user} is already banned. Nothing changed.",
    "mod.ban.already_since": "{user} is already banned since {since}. Nothing changed.",
    "mod.ban.done": (
        "🔨 {user} can no longer make videos here. They are told politely, without your name."
    ),
    "mod.ban.running": (
        "Their {count} unfinished video(s) will finish (EvoLink cannot cancel them) "
        "and the results will be posted only in the mod-log channel."
    ),
    "mod.ban.withdrawn": (
        "Their {count} request(s) still waiting in the queue were cancelled and refunded."
    ),
    "mod.ban.no_log_channel": (
        "No mod-log channel is set, so nobody will see them: set one with "
        "`/videomod config log_channel`."
    ),
    "mod.unban.not_banned": "{user} is not banned. Nothing changed.",
    "mod.unban.done": "🕊️ {user} can make videos here again.",
    "mod.log_channel.off": "Mod-log posting is off.",
    "mod.log_channel.already_off": "Mod-log posting was already off.",
    "mod.log_channel.hello_title": "📋 Video mod-log",
    "mod.log_channel.hello": (
        "From now on this channel receives every `/video` request and result, blocked "
        "prompts and every moderator action. Set by {moderator}."
    ),
    "mod.log_channel.cannot_post": (
        "I can't post in {channel}. Give me **View Channel**, **Send Messages** "
        "and **Embed Links** there, then try again. Nothing was changed."
    ),
    "mod.log_channel.set": "{channel} is now the mod-log channel.",
    "mod.log_channel.already": "{channel} already was the mod-log channel.",
    "mod.blocklist.exists": "That entry is already on the blocklist.",
    "mod.blocklist.added_regex": (
        "Added {entry}. Prompts it matches, in any case, are now refused before anything is "
        "charged."
    ),
    "mod.blocklist.added_word": (
        "Added {entry}. Prompts containing it as a whole word, in any case, are now refused "
        "before anything is charged."
    ),
    "mod.blocklist.not_listed": "{entry} is not on the blocklist.",
    "mod.blocklist.removed": "Removed {entry}.",
    # bot/moderation.py (what a moderator typed that cannot be used)
    "input.since_range": "`since` must be a positive period of at most 10 years, not `{text}`.",
    "input.since_unreadable": (
        "I can't read `since: {text}`. Use a period such as `30m`, `24h`, `7d` or `2w`, "
        "or a date such as `2026-11-01`."
    ),
    "input.blocklist_empty": "The blocklist entry is empty.",
    "input.regex_too_long": "A regular expression can be at most {limit} characters.",
    "input.regex_invalid": "`{pattern}` is not a valid regular expression: {error}.",
    "input.regex_slow": (
        "This regular expression repeats a group that itself repeats or has "
        "alternatives (like `(a+)+` or `(a|b)*`), which can make matching very slow. "
        "Please simplify it."
    ),
    "input.regex_matches_empty": (
        "This regular expression matches an empty prompt, so it would block everything."
    ),
    "input.word_too_long": "A blocked word or phrase can be at most {limit} characters.",
    "input.blocklist_full": "The blocklist already has {limit} entries; remove some first.",
    "input.reason_too_long": "A reason can be at most {limit} characters.",
    # cogs/credits.py (/videomod credits, limits, balance)
    "modcredits.ledger": "Ledger (newest first)",
    "modcredits.not_a_number": "`{option}` must be a number of credits or `unlimited`.",
    "modcredits.out_of_range": "`{option}` must be between 0 and 1,000,000,000.",
    "modcredits.amount_range": "`amount` must be between 0.01 and 1,000,000 credits.",
    "modcredits.unlimited": "unlimited",
    "modcredits.gave": "Gave {amount} credits to {member} for this period.",
    "modcredits.took": "Took {amount} credits from {member} for this period.",
    "modcredits.member_or_role": "Name either a `member` or a `role`, not both.",
    "modcredits.follows_default": "{name} now follows the server's default allowance.",
    "modcredits.had_none": "{name} had no allowance of their own.",
    "modcredits.allowance_set": "{name} now gets {credits} credits per period.",
    "modcredits.refund_not_found": "I can't find a video with that task id in this server.",
    "modcredits.refund_not_finished": (
        "Only finished videos can be refunded: a video that failed or was cancelled "
        "already gave its credits back, and one in progress is settled when it ends."
    ),
    "modcredits.refunded": "Gave {credits} credits back to {member}.",
    "modcredits.already_refunded": "That video's credits were already given back.",
    "modcredits.whole_number": "`{option}` must be a whole number from {min} to {max}.",
    "modcredits.saved": "Saved. These limits apply from the next request.",
    "modcredits.balance_key_refused": (
        "EvoLink refused the bot's API key: the owner has to fix EVOLINK_API_KEY."
    ),
    "modcredits.balance_unavailable": (
        "EvoLink did not answer the balance request. Try again in a minute."
    ),
    "modcredits.balance": "The EvoLink account has **{credits}** credits left.",
    "limits.title": "Video limits in this server",
    "limits.credits_per_member": "Credits per member",
    "limits.period": "Period",
    "limits.period.daily": "daily",
    "limits.period.weekly": "weekly",
    "limits.period.monthly": "monthly",
    "limits.period.once": "once",
    "limits.guild_cap": "Server cap per period",
    "limits.max_running": "In progress per member",
    "limits.max_queued": "Waiting per member",
    "limits.cooldown": "Cooldown",
    "limits.seconds": "{seconds} s",
    "limits.global_cap": "The bot as a whole may spend {credits} per period.",
    # bot/mod_render.py: the moderators' pages (/videomod log, show, audit, blocklist list)
    "modview.log_title": "Video log",
    "modview.filters": "Filters: {filters}",
    "modview.filter.member": "member {member}",
    "modview.filter.status": "status {status}",
    "modview.filter.since": "since {since}",
    "modview.all": "All generations",
    "modview.generation": "Generation #{id}",
    "modview.member": "Member",
    "modview.member_in": "{member} in {channel}",
    "modview.status": "Status",
    "modview.credits": "Credits",
    "modview.credits_held": "{credits} held",
    "modview.credits_refunded": "{credits} refunded",
    "modview.credits_charged": "{credits} charged",
    "modview.none": "none",
    "modview.parameters": "Parameters",
    "modview.param.quality": "quality {value}",
    "modview.param.aspect_ratio": "aspect ratio {value}",
    "modview.param.duration": "duration {seconds} s",
    "modview.param.seed": "seed {value}",
    "modview.param.prompt_extend_on": "prompt extend on",
    "modview.param.prompt_extend_off": "prompt extend off",
    "modview.param.audio": "audio {url}",
    "modview.default": "{value} (default)",
    "modview.random": "random",
    "modview.timeline": "Timeline",
    "modview.requested": "Requested {when} ({ago})",
    "modview.submitted": "Submitted {when}",
    "modview.finished": "Finished {when}",
    "modview.delivered": "Delivered {when}",
    "modview.delivered_via": "Delivered via {via} ({count} attempt(s))",
    "modview.error": "Error",
    "modview.video": "Video",
    "modview.footer": "Task {task_id} · generation #{id}",
    "modview.not_started": "not started",
    "modview.audit_title": "Moderator actions",
    "modview.audit_all": "Every recorded action",
    "modview.audit_filtered": "Actions {filters}",
    "modview.audit_by": "by {user}",
    "modview.audit_about": "about {user}",
    "modview.audit_empty": "No moderator action recorded yet.",
    "modview.reason": "Reason: {reason}",
    "modview.log_channel_change": "Mod-log channel: {old} → {new}",
    "modview.off": "off",
    "modview.entry": "Entry: {entry}",
    "modview.action.ban": "🔨 banned",
    "modview.action.unban": "🕊️ unbanned",
    "modview.action.blocklist_add": "🚫 added to the blocklist",
    "modview.action.blocklist_remove": "♻️ removed from the blocklist",
    "modview.action.config": "⚙️ changed a setting",
    "modview.action.grant": "🎁 granted credits",
    "modview.action.take": "➖ took credits from",
    "modview.action.limit": "📏 changed a limit",
    "modview.action.refund": "↩️ refunded",
    "modview.blocklist_title": "Prompt blocklist",
    "modview.blocklist_empty": (
        "The blocklist is empty. Add a word with `/videomod blocklist add`, or a regular "
        "expression written as `/.../`."
    ),
    "modview.regex": "regex",
    "modview.whole_word": "whole word",
    "modview.blocklist_footer": "Page {page} of {pages} · matched in any case",
    "modview.bans_title": "Banned from making videos",
    "modview.bans_empty": "Nobody is banned here. Ban a member with `/videomod ban`.",
    "modview.ban_line": "{user} · by {moderator} {since}",
    "modview.bans_footer": "Page {page} of {pages} · lift a ban with /videomod unban",
}

ZH_CN: dict[str, str] = {
    # bot/render.py
    "common.not_charged": _NOT_CHARGED_ZH,
    "common.refunded": "占用的积分已全部退还。",
    "failure.content_policy_violation": (
        "EvoLink 的安全过滤器拦截了这个视频。请换一种方式描述画面。"
    ),
    "failure.invalid_parameters": "EvoLink 无法使用这些设置。请换用其他选项。",
    "failure.request_cancelled": "该任务已在 EvoLink 端被取消。",
    "failure.cancelled": "它在视频生成之前已被取消。",
    "failure.generation_failed_no_content": "EvoLink 未能生成这个视频。请重试。",
    "failure.generation_timeout": "EvoLink 生成这个视频耗时过长。请重试。",
    "failure.service_error": "EvoLink 生成这个视频时出现问题。请重试。",
    "failure.service_unavailable": "EvoLink 的视频服务暂时不可用。请过几分钟再试。",
    "failure.resource_exhausted": "EvoLink 当前负载过高。请过几分钟再试。",
    "failure.quota_exceeded": "EvoLink 当前正在限制请求频率。请过几分钟再试。",
    "failure.resource_not_found": "EvoLink 已找不到这个任务。请重试。",
    "failure.task_not_found": "EvoLink 已找不到这个任务。请重试。",
    "failure.expired": "EvoLink 未能按时完成这个视频，机器人已停止等待。",
    "failure.submit_unconfirmed": (
        "EvoLink 始终没有确认这个视频已开始生成，机器人已停止等待。请重试。"
    ),
    "failure.unknown": "EvoLink 未能生成这个视频。请重试。",
    "failure.unknown_detail": "EvoLink 未能生成这个视频（{detail}）。请重试。",
    "submit.bad_request": f"EvoLink 拒绝了这个请求：{{message}}。{_NOT_CHARGED_ZH}",
    "submit.key_refused": (
        "机器人的 EvoLink 密钥被拒绝，暂时无法生成视频。需要服务器管理员修正机器人的设置。"
        + _NOT_CHARGED_ZH
    ),
    "submit.insufficient_balance": (
        "为本服务器视频付费的 EvoLink 账户余额已用完。请告知管理员。" + _NOT_CHARGED_ZH
    ),
    "submit.rate_limited": "EvoLink 正忙。请一分钟后再试。" + _NOT_CHARGED_ZH,
    "submit.unavailable": "EvoLink 目前出现故障。请过几分钟再试。" + _NOT_CHARGED_ZH,
    "request.invalid": "暂时无法开始生成这个视频：\n{problems}\n请求未发送，也没有扣除任何积分。",
    "status.title.queued": "⏳ 正在等待空闲名额",
    "status.queued": "排队中：你的其他视频完成一个后就会开始。开始前可随时取消，积分全额退还。",
    "status.queued.position": (
        "排队中，在你的队列中排第 {position} 位：你的其他视频完成一个后就会开始。"
        "开始前可随时取消，积分全额退还。"
    ),
    "status.title.cancelled": "🚫 已取消",
    "status.cancelled": "已在开始前取消。占用的积分已全部退还。",
    "status.title.completed": "✅ 视频已完成",
    "status.completed": "已完成：视频已发布在下方。",
    "status.title.failed": "❌ 视频生成失败",
    "status.failed": "{reason}" + _NOT_CHARGED_ZH,
    "status.title.working": "🎬 正在生成你的视频",
    "status.state.running": "渲染中",
    "status.state.pending": "在 EvoLink 排队中",
    "status.elapsed": "已用时 {elapsed}",
    "status.elapsed_estimate": "已用时 {elapsed} · 通常约需 {estimate}",
    "status.cost": "{credits} 积分",
    "field.status": "状态",
    "field.prompt": "提示词",
    "field.negative_prompt": "反向提示词",
    "field.settings": "设置",
    "field.cost": "费用",
    "field.took": "耗时",
    "footer.task": "任务 {task_id}",
    "duration.minutes": "{minutes} 分 {seconds:02d} 秒",
    "duration.seconds": "{seconds} 秒",
    "settings.duration": "{seconds} 秒",
    "settings.seed": "种子 {seed}",
    "settings.prompt_extend": "提示词扩展",
    "settings.custom_audio": "自定义音频",
    "settings.random_seed": "随机种子",
    "result.ready": (
        "{mention} 你的视频已生成：{url}\n-# 链接会在生成 24 小时后失效，如需保留请下载视频。"
    ),
    "result.failed": "{mention} 你的视频未能生成。{reason}" + _NOT_CHARGED_ZH,
    "result.ready.attached": "{mention} 你的视频已生成。",
    "result.ready.expires": (
        "{mention} 你的视频已生成：{url}\n"
        "-# 链接会在生成 24 小时后失效（{expires}），如需保留请下载视频。"
    ),
    # bot/delivery.py
    "delivery.dm_note": "我无法在 {channel} 发布消息。",
    # cogs/video.py
    "video.unconfirmed": (
        "EvoLink 没有确认你的视频已开始生成。我正在重新确认：如果已经开始，视频会发布在这里；"
        "如果没有，我会通知你并退还积分。你不会被重复扣费。"
    ),
    "video.reserved": "已预留 {credits} 积分。",
    "video.guild_only": "请在服务器频道中使用 /视频。",
    "video.cancel.label": "取消",
    "video.cancel.not_yours": "只有发起这个视频请求的成员才能取消它。",
    "video.cancel.too_late": (
        "这个视频已经开始生成，而 EvoLink 无法中止已开始的视频，因此不能再取消。"
    ),
    "video.cancel.already": "这个请求已经取消过了，占用的积分已退还。",
    "video.cancel.done": "已取消。占用的积分已全部退还。",
    "video.low_balance": (
        "EvoLink 因账户余额不足拒绝了一个视频请求。在为 EvoLink 账户充值之前，成员们无法生成视频。"
    ),
    # bot/moderation.py
    "moderation.banned": (
        "你目前无法在本服务器生成视频。如果你认为这是误会，请联系本服务器的管理员。"
    ),
    "moderation.blocked": (
        "这个提示词包含本服务器不允许的词语，因此视频没有开始生成，也没有扣除任何积分。"
        "请换一种说法。"
    ),
    # cogs/results.py
    "results.again": "🔁 重新生成",
    "results.seed": "🌱 使用此种子",
    "results.edit": "✏️ 修改后重试",
    "results.not_yours": "只有发起这个视频请求的成员才能使用这些按钮。你也可以自己试试 `/视频`！",
    "results.random_seed": (
        "这个视频使用的是随机种子，EvoLink 不会返回它，因此无法复用。"
        "点击“重新生成”会使用一个可以保留的种子生成新视频。"
    ),
    "results.too_long_to_edit": (
        "这个提示词超过了 Discord 表单的长度上限（{max} 个字符），无法在这里修改。"
        "“重新生成”会按原样再生成一次，或者发送新的 `/视频`。"
    ),
    "results.modal.title": "修改后重试",
    "results.modal.prompt": "提示词",
    "results.modal.negative_prompt": "反向提示词（可选）",
    # cogs/help.py
    "help.title": "🎬 如何生成视频",
    "help.intro": (
        "输入 `/视频` 并描述画面里要发生什么。状态消息会显示生成进度，完成后视频会发布在这个频道，"
        "并提及你。只有你能看到这条帮助。"
    ),
    "help.options": "选项",
    "help.option.prompt": (
        "`{option}`（必填）：视频里要发生什么，中文或英文均可，最多 {max:,} 个字符。"
    ),
    "help.option.negative_prompt": "`{option}`：不希望出现的内容，最多 {max} 个字符。",
    "help.option.quality": "`{option}`：720p（默认）或 1080p（更清晰，费用更高）。",
    "help.option.aspect_ratio": "`{option}`：{choices}（默认 {default}）。",
    "help.option.duration": (
        "`{option}`：{min} 到 {max} 秒（默认 {default} 秒），时长越长费用越高。"
    ),
    "help.option.seed": (
        "`{option}`：{min} 到 {max:,} 之间的数字。"
        "相同的种子和设置会再次生成相似的视频（默认随机）。"
    ),
    "help.option.prompt_extend": (
        "`{option}`：先让语言模型扩写你的提示词，适合简短的提示词（默认关闭）。"
    ),
    "help.option.audio": (
        "`{audio}` 或 `{audio_url}`：驱动音频，上传 .wav 或 .mp3 文件，或提供 https 链接"
        "（二选一），2–30 秒，最大 15 MB。比视频长时只使用开头部分；不提供时，模型会根据画面"
        "自动生成匹配的背景音乐或音效。"
    ),
    "help.prices": "价格",
    "help.price.one": "{quality}：每秒 {price} 积分，5 秒视频需 {example} 积分",
    "help.price.other": "{quality}：每秒 {price} 积分，5 秒视频需 {example} 积分",
    "help.prices.note": "费用在提交时预留；如果最终没有生成视频，会全额退还。",
    "help.credits": "你的积分",
    "help.credits.held": "生成中的视频占用 {held} 积分",
    "help.credits.renews": "你的积分将在 {when} 重置。",
    "help.credits.no_renewal": "你的积分不会重置。",
    "help.credits.more": "`/积分` 可查看你最近的扣费记录。",
    "help.shots": "单镜头还是多镜头",
    "help.shots.text": (
        "写上 **生成单镜头视频** 得到一个连续的镜头，写上 **生成多镜头视频** 得到多个镜头；"
        "都不写时，模型会根据提示词自行决定。想自己安排镜头切换，就给每个镜头标上时间：\n"
        "`第 1 个镜头 [0-3 秒] 全景：一只狐狸在雪地里醒来`\n"
        "`第 2 个镜头 [3-5 秒] 特写：它朝镜头扑过来`\n"
        "时间不要超出视频的 `{duration}`。"
    ),
    "help.tips": "让效果更好",
    "help.tips.text": (
        "• 描述主体、动作、场景、光线和镜头运动。\n"
        "• 不想要的内容写进 `{negative_prompt}`（如：模糊、文字、水印），而不是写在提示词里。\n"
        "• 提示词很短？打开 `{prompt_extend}`。\n"
        "• 反复调整？固定 `{seed}`，每次只改一处。视频下方的“🌱 使用此种子”会替你沿用它的种子。\n"
        "• 中文和英文提示词都可以。"
    ),
    "help.footer": "每个视频下方：🔁 重新生成 · 🌱 使用此种子 · ✏️ 修改后重试",
    # cogs/credits.py
    "credits.title": "你的视频积分",
    "credits.field.remaining": "剩余",
    "credits.unlimited": "不限",
    "credits.remaining.daily": "**{remaining}** / {allowance}（每天）",
    "credits.remaining.weekly": "**{remaining}** / {allowance}（每周）",
    "credits.remaining.monthly": "**{remaining}** / {allowance}（每月）",
    "credits.remaining.once": "**{remaining}** / {allowance}（总计）",
    "credits.remaining.other": "**{remaining}** / {allowance}",
    "credits.field.held": "生成中的视频占用",
    "credits.field.renews": "下次重置",
    "credits.renews_never": "不重置（一次性额度）",
    "credits.field.recent": "最近变动",
    "credits.nothing_yet": "暂无记录。",
    "credits.footer": (
        "5 秒视频在 720p 下需 {price_720p} 积分，1080p 下需 {price_1080p} 积分；"
        "时长越长，费用越高。"
    ),
    "credits.mod_title": "{name} 的积分",
    "ledger.reserve": "预留",
    "ledger.settle": "结算",
    "ledger.refund": "退还",
    "ledger.grant": "发放",
    "ledger.take": "扣除",
    "ledger.video": "视频 #{generation_id}",
    "period.daily": "每天",
    "period.weekly": "每周",
    "period.monthly": "每月",
    "period.once": "总计",
    # bot/credits.py
    "credits.when_never": "永不重置（一次性额度）",
    "refusal.allowance.renews": (
        "这个视频需要 {cost} 积分，而你只剩 {left} 积分。你的积分将在 {when} 重置。"
        "时长更短或 720p 的视频花费更少。" + _NOTHING_CHARGED_ZH
    ),
    "refusal.allowance.no_renewal": (
        "这个视频需要 {cost} 积分，而你只剩 {left} 积分。你的积分不会重置。"
        "时长更短或 720p 的视频花费更少。" + _NOTHING_CHARGED_ZH
    ),
    "refusal.cap.server": "本服务器目前可花费的视频积分已全部用完。" + _NOTHING_CHARGED_ZH,
    "refusal.cap.server.renews": (
        "本服务器目前可花费的视频积分已全部用完，额度将在 {when} 重置。" + _NOTHING_CHARGED_ZH
    ),
    "refusal.cap.bot": "机器人目前可花费的视频积分已全部用完。" + _NOTHING_CHARGED_ZH,
    "refusal.cap.bot.renews": (
        "机器人目前可花费的视频积分已全部用完，额度将在 {when} 重置。" + _NOTHING_CHARGED_ZH
    ),
    "refusal.busy.one": (
        "你已有 {count} 个视频正在生成。请等其中一个完成后再试。" + _NOTHING_CHARGED_ZH
    ),
    "refusal.busy.other": (
        "你已有 {count} 个视频正在生成。请等其中一个完成后再试。" + _NOTHING_CHARGED_ZH
    ),
    "refusal.busy_waiting.one": (
        "你已有 {count} 个视频正在生成，另有 {queued} 个在排队。请等其中一个完成后再试。"
        + _NOTHING_CHARGED_ZH
    ),
    "refusal.busy_waiting.other": (
        "你已有 {count} 个视频正在生成，另有 {queued} 个在排队。请等其中一个完成后再试。"
        + _NOTHING_CHARGED_ZH
    ),
    "refusal.cooldown.one": "请再等 {count} 秒后再生成下一个视频。" + _NOTHING_CHARGED_ZH,
    "refusal.cooldown.other": "请再等 {count} 秒后再生成下一个视频。" + _NOTHING_CHARGED_ZH,
    # bot/validation.py
    "validation.one_of": "`{option}` 只能是以下之一：{choices}。",
    "validation.duration": "`{option}` 必须是 {min} 到 {max} 之间的整数秒。",
    "validation.whole_number": "`{option}` 必须是 {min} 到 {max:,} 之间的整数。",
    "validation.boolean": "`{option}` 只能是 true 或 false。",
    "validation.audio_both": "`{audio}` 文件和 `{audio_url}` 只能二选一，不能同时提供。",
    "validation.required": "`{option}` 为必填项：请描述你想要的视频。",
    "validation.not_text": "`{option}` 必须是文字。",
    "validation.bad_character": "`{option}` 包含无法发送的字符。",
    "validation.empty": "`{option}` 为空：请描述你想要的视频。",
    "validation.too_long": (
        "`{option}` 有 {length:,} 个字符，超过了 {limit:,} 个字符的上限。请缩短。"
    ),
    "validation.audio_type": "`{option}` 必须是 .wav 或 .mp3 文件。",
    "validation.audio_size": "`{option}` 的大小为 {size_mb:.1f} MB，上限为 {limit_mb} MB。",
    "validation.https": "`{option}` 必须是以 https:// 开头的链接。",
    "validation.url_too_long": "`{option}` 超过了 {limit} 个字符。",
    "validation.url_spaces": "`{option}` 不能包含空格。",
    "validation.url_public": "`{option}` 必须指向公开的网址。",
    # bot/client.py
    "error.unexpected": "机器人内部出错，这条命令没有完成。没有扣除任何积分。请稍后再试。",
    "error.closing": "视频机器人正在重启。请一分钟后再试；没有扣除任何积分。",
    "error.check_failed": "你不能在这里使用这条命令。",
    "modlog.key_refused": (
        "EvoLink 拒绝了机器人的 API 密钥，目前无法生成视频。机器人的所有者需要在 .env 中填写有效的 "
        "EVOLINK_API_KEY 并重启。成员会收到提示，不会被扣除积分。"
    ),
    "error.mismatch": (
        "这条命令的选项与机器人预期的不一致（Discord 可能仍在更新命令列表）。"
        "请一分钟后再试；没有扣除任何积分。"
    ),
    "error.attachment_missing": "无法读取附加的文件。请重新附加；没有扣除任何积分。",
    "error.guild_only": "这条命令只能在服务器中使用。",
    # cogs/history.py
    "history.title": "你的视频",
    "history.description": "只有你能看到这个列表。视频链接会在生成 24 小时后失效。",
    "history.not_yours": "这些页面属于其他人。使用 `/我的视频` 查看你自己的视频。",
    # bot/mod_render.py
    "log.status.queued": "⏳ 等待空闲名额",
    "log.status.requested": "⏳ 正在启动",
    "log.status.submitted": "⏳ 在 EvoLink 排队中",
    "log.status.running": "🎬 渲染中",
    "log.status.completed": "✅ 已完成",
    "log.status.failed": "❌ 失败",
    "log.status.expired": "⌛ 已超时",
    "log.status.cancelled": "🚫 已取消",
    "log.credits_held": "{credits} 积分（预留中）",
    "log.no_charge": "未扣费",
    "log.refunded": "已退还 {credits} 积分",
    "log.open_video": "[打开视频]({url})",
    "log.link_too_long": "（视频链接太长，无法在此显示）",
    "log.empty.title": "暂无内容",
    "log.empty": "没有符合条件的视频。",
    "log.footer": "第 {page} 页 · 最新的在前",
    # cogs/paging.py
    "paging.previous": "上一页",
    "paging.next": "下一页",
    # cogs/moderation.py
    "mod.not_a_moderator": (
        "只有拥有 **管理服务器** 权限的成员才能使用 `/视频管理`。"
        "如果你认为自己应该有权限，请联系服务器管理员。"
    ),
    "mod.not_your_pages": "只有发起查询的管理员才能翻页：请自己运行这条命令。",
    "mod.pick_text_channel": "请选择一个文字频道。",
    "mod.status_one_of": "`status` 只能是以下之一：{choices}。",
    "mod.show.not_found": "在本服务器找不到任务 ID 为 {task_id} 的视频。",
    "mod.show.full_prompt": "完整提示词",
    "mod.show.attached": "已作为文本文件附上。",
    "mod.export.none": "没有符合这些筛选条件的视频。",
    "mod.export.too_large": (
        "{rows:,} 个视频的导出文件即使压缩后也太大，无法在这里上传。"
        "请用 `since` 或 `user` 缩小范围。"
    ),
    "mod.export.done": "📄 {rows:,} 个视频，最新的在前，时间为 UTC。",
    "mod.export.done_packed": (
        "📄 {rows:,} 个视频，最新的在前，时间为 UTC（已用 gzip 压缩以符合 Discord 的上传限制）。"
    ),
    "mod.ban.already": "{user} 已被封禁，没有任何改动。",
    "mod.ban.already_since": "{user} 自 {since} 起已被封禁，没有任何改动。",
    "mod.ban.done": "🔨 {user} 已无法在这里生成视频。对方会收到礼貌的提示，不会看到你的名字。",
    "mod.ban.running": (
        "对方还有 {count} 个未完成的视频会继续生成（EvoLink 无法取消），"
        "结果只会发布在管理日志频道。"
    ),
    "mod.ban.withdrawn": "对方在队列中等待的 {count} 个请求已取消并退还积分。",
    "mod.ban.no_log_channel": (
        "目前没有设置管理日志频道，因此没有人会看到这些结果：请用 "
        "`/视频管理 设置 日志频道` 设置一个。"
    ),
    "mod.unban.not_banned": "{user} 没有被封禁，没有任何改动。",
    "mod.unban.done": "🕊️ {user} 可以重新在这里生成视频了。",
    "mod.log_channel.off": "已停止发布管理日志。",
    "mod.log_channel.already_off": "管理日志本来就没有开启。",
    "mod.log_channel.hello_title": "📋 视频管理日志",
    "mod.log_channel.hello": (
        "从现在起，这个频道会收到每一次 `/视频` 请求和结果、被拦截的提示词以及每一项管理操作。"
        "由 {moderator} 设置。"
    ),
    "mod.log_channel.cannot_post": (
        "我无法在 {channel} 发布消息。请在那里给我 **查看频道**、**发送消息** 和 **嵌入链接** "
        "权限，然后再试一次。没有任何改动。"
    ),
    "mod.log_channel.set": "{channel} 现在是管理日志频道。",
    "mod.log_channel.already": "{channel} 本来就是管理日志频道。",
    "mod.blocklist.exists": "这个条目已经在屏蔽列表中了。",
    "mod.blocklist.added_regex": (
        "已添加 {entry}。与它匹配的提示词（不区分大小写）现在会在扣费前被拒绝。"
    ),
    "mod.blocklist.added_word": (
        "已添加 {entry}。以整词形式包含它的提示词（不区分大小写）现在会在扣费前被拒绝。"
    ),
    "mod.blocklist.not_listed": "{entry} 不在屏蔽列表中。",
    "mod.blocklist.removed": "已移除 {entry}。",
    # bot/moderation.py
    "input.since_range": "`since` 必须是不超过 10 年的正时间段，而不是 `{text}`。",
    "input.since_unreadable": (
        "无法识别 `since: {text}`。请使用 `30m`、`24h`、`7d` 或 `2w` 这样的时间段，"
        "或 `2026-11-01` 这样的日期。"
    ),
    "input.blocklist_empty": "屏蔽条目为空。",
    "input.regex_too_long": "正则表达式最多 {limit} 个字符。",
    "input.regex_invalid": "`{pattern}` 不是有效的正则表达式：{error}。",
    "input.regex_slow": (
        "这个正则表达式重复了一个本身就会重复或带有分支的组（如 `(a+)+` 或 `(a|b)*`），"
        "可能导致匹配非常缓慢。请简化它。"
    ),
    "input.regex_matches_empty": "这个正则表达式会匹配空提示词，因此会屏蔽所有内容。",
    "input.word_too_long": "屏蔽的词或短语最多 {limit} 个字符。",
    "input.blocklist_full": "屏蔽列表已有 {limit} 个条目；请先移除一些。",
    "input.reason_too_long": "原因最多 {limit} 个字符。",
    # cogs/credits.py
    "modcredits.ledger": "积分记录（最新的在前）",
    "modcredits.not_a_number": "`{option}` 必须是积分数量或 `unlimited`。",
    "modcredits.out_of_range": "`{option}` 必须在 0 到 1,000,000,000 之间。",
    "modcredits.amount_range": "`amount` 必须在 0.01 到 1,000,000 积分之间。",
    "modcredits.unlimited": "不限",
    "modcredits.gave": "已为 {member} 发放本周期的 {amount} 积分。",
    "modcredits.took": "已扣除 {member} 本周期的 {amount} 积分。",
    "modcredits.member_or_role": "请指定一个 `member` 或一个 `role`，不能同时指定。",
    "modcredits.follows_default": "{name} 现在使用服务器的默认额度。",
    "modcredits.had_none": "{name} 本来就没有单独的额度。",
    "modcredits.allowance_set": "{name} 现在每个周期获得 {credits} 积分。",
    "modcredits.refund_not_found": "在本服务器找不到这个任务 ID 的视频。",
    "modcredits.refund_not_finished": (
        "只有已完成的视频可以退还积分：失败或已取消的视频已经退还了积分，"
        "生成中的视频会在结束时结算。"
    ),
    "modcredits.refunded": "已向 {member} 退还 {credits} 积分。",
    "modcredits.already_refunded": "这个视频的积分已经退还过了。",
    "modcredits.whole_number": "`{option}` 必须是 {min} 到 {max} 之间的整数。",
    "modcredits.saved": "已保存。这些限制从下一个请求开始生效。",
    "modcredits.balance_key_refused": (
        "EvoLink 拒绝了机器人的 API 密钥：需要所有者修正 EVOLINK_API_KEY。"
    ),
    "modcredits.balance_unavailable": "EvoLink 没有回应余额查询。请一分钟后再试。",
    "modcredits.balance": "EvoLink 账户还剩 **{credits}** 积分。",
    "limits.title": "本服务器的视频限制",
    "limits.credits_per_member": "每个成员的积分",
    "limits.period": "周期",
    "limits.period.daily": "每天",
    "limits.period.weekly": "每周",
    "limits.period.monthly": "每月",
    "limits.period.once": "一次性",
    "limits.guild_cap": "服务器每个周期的上限",
    "limits.max_running": "每个成员同时生成数",
    "limits.max_queued": "每个成员排队数",
    "limits.cooldown": "冷却时间",
    "limits.seconds": "{seconds} 秒",
    "limits.global_cap": "整个机器人每个周期最多可花费 {credits} 积分。",
    # bot/mod_render.py
    "modview.log_title": "视频记录",
    "modview.filters": "筛选：{filters}",
    "modview.filter.member": "成员 {member}",
    "modview.filter.status": "状态 {status}",
    "modview.filter.since": "起始 {since}",
    "modview.all": "全部视频",
    "modview.generation": "视频 #{id}",
    "modview.member": "成员",
    "modview.member_in": "{member}，在 {channel}",
    "modview.status": "状态",
    "modview.credits": "积分",
    "modview.credits_held": "预留 {credits}",
    "modview.credits_refunded": "已退还 {credits}",
    "modview.credits_charged": "扣除 {credits}",
    "modview.none": "无",
    "modview.parameters": "参数",
    "modview.param.quality": "画质 {value}",
    "modview.param.aspect_ratio": "宽高比 {value}",
    "modview.param.duration": "时长 {seconds} 秒",
    "modview.param.seed": "种子 {value}",
    "modview.param.prompt_extend_on": "提示词扩展：开",
    "modview.param.prompt_extend_off": "提示词扩展：关",
    "modview.param.audio": "音频 {url}",
    "modview.default": "{value}（默认）",
    "modview.random": "随机",
    "modview.timeline": "时间线",
    "modview.requested": "请求于 {when}（{ago}）",
    "modview.submitted": "提交于 {when}",
    "modview.finished": "完成于 {when}",
    "modview.delivered": "送达于 {when}",
    "modview.delivered_via": "送达方式：{via}（尝试 {count} 次）",
    "modview.error": "错误",
    "modview.video": "视频",
    "modview.footer": "任务 {task_id} · 视频 #{id}",
    "modview.not_started": "尚未开始",
    "modview.audit_title": "管理操作",
    "modview.audit_all": "全部操作记录",
    "modview.audit_filtered": "{filters}的操作",
    "modview.audit_by": "由 {user} 执行",
    "modview.audit_about": "与 {user} 有关",
    "modview.audit_empty": "还没有任何管理操作记录。",
    "modview.reason": "原因：{reason}",
    "modview.log_channel_change": "管理日志频道：{old} → {new}",
    "modview.off": "关闭",
    "modview.entry": "条目：{entry}",
    "modview.action.ban": "🔨 封禁了",
    "modview.action.unban": "🕊️ 解封了",
    "modview.action.blocklist_add": "🚫 添加了屏蔽词",
    "modview.action.blocklist_remove": "♻️ 移除了屏蔽词",
    "modview.action.config": "⚙️ 修改了设置",
    "modview.action.grant": "🎁 调整了积分",
    "modview.action.take": "➖ 扣除了积分",
    "modview.action.limit": "📏 修改了限制",
    "modview.action.refund": "↩️ 退还了积分",
    "modview.blocklist_title": "提示词屏蔽列表",
    "modview.blocklist_empty": (
        "屏蔽列表为空。用 `/视频管理 屏蔽词 添加` 添加词语，或添加写成 `/.../` 的正则表达式。"
    ),
    "modview.regex": "正则",
    "modview.whole_word": "整词",
    "modview.blocklist_footer": "第 {page} 页，共 {pages} 页 · 不区分大小写",
    "modview.bans_title": "被禁止生成视频的成员",
    "modview.bans_empty": "这里没有被封禁的成员。用 `/视频管理 封禁` 封禁成员。",
    "modview.ban_line": "{user} · 由 {moderator} 封禁 {since}",
    "modview.bans_footer": "第 {page} 页，共 {pages} 页 · 用 /视频管理 解封 解除封禁",
}

MESSAGES: dict[str, dict[str, str]] = {ENGLISH: EN, CHINESE: ZH_CN}


def language(locale: str | discord.Locale | None) -> str:
    """The catalogue for a Discord locale: "zh-CN" for Simplified Chinese, else "en"."""
    if isinstance(locale, discord.Locale):
        locale = locale.value
    if locale and locale.strip().lower() in _CHINESE_ALIASES:
        return CHINESE
    return ENGLISH


def t(key: str, locale: str | discord.Locale | None = None, /, **values: object) -> str:
    """The message `key` in the member's language, its ``{placeholders}`` filled from `values`.

    Falls back to English for other locales and for keys the Chinese catalogue lacks (or whose
    Chinese text cannot be filled); a key unknown in English too is returned as it is, logged.
    """
    lang = language(locale)
    if lang != ENGLISH:
        text = MESSAGES[lang].get(key)
        if text is not None:
            try:
                return text.format(**values)
            except (KeyError, IndexError, ValueError):
                log.warning("the %s text of %r does not fit its values; using English", lang, key)
    text = EN.get(key)
    if text is None:
        log.warning("no message %r", key)
        return key
    return text.format(**values)


def tn(
    key: str, count: int, locale: str | discord.Locale | None = None, /, **values: object
) -> str:
    """A message that depends on a number: `key.one` for 1, `key.other` otherwise ({count} set)."""
    return t(f"{key}.{'one' if count == 1 else 'other'}", locale, count=count, **values)


def listing(locale: str | discord.Locale | None, items: Iterable[str]) -> str:
    """Items in a row: "a, b, c" in English, "a、b、c" in Chinese."""
    return ("、" if language(locale) == CHINESE else ", ").join(items)


def sentences(locale: str | discord.Locale | None, *parts: str) -> str:
    """Sentences side by side: a space between them in English, none in Chinese."""
    joiner = "" if language(locale) == CHINESE else " "
    return joiner.join(p for p in parts if p)
