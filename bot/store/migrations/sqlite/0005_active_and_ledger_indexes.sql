-- 5: found by the benchmark on a million rows: the log filtered to videos in progress, and a
-- member's latest ledger rows, each took a scan of a whole server's (or member's) history.
CREATE INDEX generations_guild_active ON generations (guild_id, requested_at)
    WHERE status IN ('queued', 'requested', 'submitted', 'running');
CREATE INDEX generations_member_active ON generations (guild_id, user_id, requested_at)
    WHERE status IN ('queued', 'requested', 'submitted', 'running');
CREATE INDEX credit_ledger_member_recent ON credit_ledger (guild_id, user_id, id);
