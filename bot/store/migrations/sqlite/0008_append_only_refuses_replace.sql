-- 8: the append-only tables also refuse `INSERT OR REPLACE` / `REPLACE INTO` of an existing
-- row: SQLite's REPLACE deletes the old row without firing the delete trigger.
CREATE TRIGGER credit_ledger_no_replace BEFORE INSERT ON credit_ledger
    WHEN EXISTS (SELECT 1 FROM credit_ledger WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'the credit ledger is append-only'); END;
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
    WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
