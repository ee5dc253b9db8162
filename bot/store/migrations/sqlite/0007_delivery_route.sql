-- 7: the fallback a delivery is being sent by (follow-up, DM) while it is on its way, so a
-- restart does not post it a second time elsewhere.
ALTER TABLE generations ADD COLUMN delivery_route TEXT;
