-- 2: as SQLite's version 9: the member's name when they asked (the moderators' export names who
-- made each video, even one who has left the server since); whether the message a video was
-- delivered in carries the file (once EvoLink's link has expired, /videos knows whether that
-- message still holds the video); and what the bot remembers between starts (the server it
-- registered its commands in, so that changing DISCORD_GUILD_ID removes the copies it left).
ALTER TABLE generations ADD COLUMN user_name text;
ALTER TABLE generations ADD COLUMN delivered_file bigint;
CREATE TABLE bot_state (
    name    text PRIMARY KEY,
    value   text NOT NULL
);
