-- 3: as SQLite's version 10: work shared by several processes over one database. A row being
-- worked on (created, polled, delivered) names the process working on it and until when
-- (`claimed_by`, `lease_until`): no other process touches it before that lease runs out, and a
-- process that dies leaves leases that run out. `claimed_by` stays after the work, so the
-- process that knows a row (its interaction, its schedule) keeps it while it lives.
-- `shared_timers` holds what the processes must agree on in time: until when EvoLink asked for
-- a pause in creates (and when it asked), and when a notice to the moderators was last sent;
-- `request_budget` is the bot token's share of Discord's global rate limit, spent by every
-- process from one bucket.
ALTER TABLE generations ADD COLUMN claimed_by text;
ALTER TABLE generations ADD COLUMN lease_until double precision;
CREATE INDEX generations_claimed ON generations (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX generations_leased ON generations (lease_until) WHERE lease_until IS NOT NULL;
CREATE TABLE shared_timers (
    name    text PRIMARY KEY,
    until   double precision NOT NULL,
    set_at  double precision NOT NULL
);
CREATE TABLE request_budget (
    name        text PRIMARY KEY,
    tokens      double precision NOT NULL,
    refilled_at double precision NOT NULL,
    granted     double precision NOT NULL DEFAULT 0
);
