-- 2: credits. The ledger is append-only; every balance is a sum over it.
CREATE TABLE credit_ledger (
    id              INTEGER PRIMARY KEY,
    guild_id        INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    generation_id   INTEGER REFERENCES generations (id),
    kind            TEXT NOT NULL
                    CHECK (kind IN ('reserve', 'settle', 'refund', 'grant', 'take')),
    amount          REAL NOT NULL,
    charged_at      REAL NOT NULL,   -- when the spending it belongs to happened
    moderator_id    INTEGER,
    reason          TEXT,
    created_at      REAL NOT NULL
);
CREATE INDEX credit_ledger_member ON credit_ledger (guild_id, user_id, charged_at);
CREATE INDEX credit_ledger_guild ON credit_ledger (guild_id, charged_at);
CREATE INDEX credit_ledger_time ON credit_ledger (charged_at);
CREATE INDEX credit_ledger_generation ON credit_ledger (generation_id);
CREATE TRIGGER credit_ledger_no_update BEFORE UPDATE ON credit_ledger
    BEGIN SELECT RAISE(ABORT, 'the credit ledger is append-only'); END;
CREATE TRIGGER credit_ledger_no_delete BEFORE DELETE ON credit_ledger
    BEGIN SELECT RAISE(ABORT, 'the credit ledger is append-only'); END;

CREATE TABLE credit_allowances (
    guild_id    INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('member', 'role')),
    target_id   INTEGER NOT NULL,
    credits     REAL,            -- NULL: unlimited
    set_by      INTEGER,
    set_at      REAL NOT NULL,
    PRIMARY KEY (guild_id, kind, target_id)
);

CREATE TABLE guild_limits (
    guild_id        INTEGER PRIMARY KEY,
    default_credits REAL,        -- NULL: inherit the .env default; negative: unlimited
    period          TEXT,
    max_running     INTEGER,
    max_queued      INTEGER,
    cooldown        REAL,
    guild_cap       REAL,        -- NULL: inherit; negative: no cap
    updated_by      INTEGER,
    updated_at      REAL NOT NULL
);
CREATE INDEX generations_member_status ON generations (guild_id, user_id, status);
CREATE INDEX generations_queued ON generations (guild_id, user_id, id) WHERE status = 'queued';
