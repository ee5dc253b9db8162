CREATE TABLE generations (
    id                  INTEGER PRIMARY KEY,
    guild_id            INTEGER,
    channel_id          INTEGER NOT NULL,
    user_id             INTEGER NOT NULL,
    locale              TEXT,
    prompt              TEXT NOT NULL,
    negative_prompt     TEXT,
    quality             TEXT,
    aspect_ratio        TEXT,
    duration            INTEGER,
    seed                INTEGER,
    prompt_extend       INTEGER,
    audio_url           TEXT,
    idempotency_key     TEXT NOT NULL UNIQUE,
    task_id             TEXT UNIQUE,
    status              TEXT NOT NULL DEFAULT 'requested' CHECK (status IN ('queued',
                        'requested', 'submitted', 'running', 'completed', 'failed', 'expired',
                        'cancelled')),
    progress            INTEGER NOT NULL DEFAULT 0,
    estimated_seconds   REAL,
    credits_reserved    REAL,
    credits_used        REAL,
    result_url          TEXT,
    error_code          TEXT,
    error_message       TEXT,
    status_message_id   INTEGER,
    next_poll_at        REAL,
    poll_count          INTEGER NOT NULL DEFAULT 0,
    requested_at        REAL NOT NULL,
    submitted_at        REAL,
    finished_at         REAL,
    delivered_at        REAL,
    delivered_via       TEXT,
    delivery_message_id INTEGER,
    delivery_attempts   INTEGER NOT NULL DEFAULT 0,
    next_delivery_at    REAL,
    updated_at          REAL NOT NULL
);
CREATE INDEX generations_polling ON generations (next_poll_at)
    WHERE status IN ('requested', 'submitted', 'running');
CREATE INDEX generations_delivery ON generations (next_delivery_at)
    WHERE delivered_at IS NULL AND status IN ('completed', 'failed', 'expired');
CREATE INDEX generations_guild_time ON generations (guild_id, requested_at);
CREATE INDEX generations_user_time ON generations (user_id, requested_at);
