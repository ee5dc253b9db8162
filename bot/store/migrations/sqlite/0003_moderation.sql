-- 3: moderation (bot/moderation.py). The audit log is append-only.
CREATE TABLE guild_config (
    guild_id        INTEGER PRIMARY KEY,
    log_channel_id  INTEGER,
    updated_by      INTEGER,
    updated_at      REAL NOT NULL
);
CREATE TABLE bans (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    banned_by   INTEGER NOT NULL,
    reason      TEXT,
    banned_at   REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;
CREATE TABLE blocklist (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    pattern     TEXT NOT NULL,
    is_regex    INTEGER NOT NULL CHECK (is_regex IN (0, 1)),
    added_by    INTEGER NOT NULL,
    added_at    REAL NOT NULL,
    UNIQUE (guild_id, pattern, is_regex)
);
CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY,
    guild_id        INTEGER NOT NULL,
    moderator_id    INTEGER NOT NULL,
    action          TEXT NOT NULL,
    target_user_id  INTEGER,
    details         TEXT NOT NULL DEFAULT '{}',   -- JSON object
    reason          TEXT,
    created_at      REAL NOT NULL
);
CREATE INDEX audit_log_guild ON audit_log (guild_id, id);
CREATE INDEX audit_log_moderator ON audit_log (guild_id, moderator_id, id);
CREATE INDEX audit_log_target ON audit_log (guild_id, target_user_id, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
-- the /videomod log filters, newest first: by member, by status
CREATE INDEX generations_guild_user_time ON generations (guild_id, user_id, requested_at);
CREATE INDEX generations_guild_status_time ON generations (guild_id, status, requested_at);
