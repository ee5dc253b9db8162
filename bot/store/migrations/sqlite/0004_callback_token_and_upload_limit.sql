-- 4: a per-task secret in the callback URL (a forged call is told apart), and the upload
-- limit of the server the request came from (the finished file is attached if it fits).
ALTER TABLE generations ADD COLUMN callback_token TEXT;
ALTER TABLE generations ADD COLUMN upload_limit INTEGER;
