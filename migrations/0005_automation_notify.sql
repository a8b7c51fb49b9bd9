-- Hand-written. Rules (and the webhooks a rule or a reading may notify) are kept in memory by
-- each hub like the ingest catalog: every change notifies hub_catalog with the table's name.
CREATE TRIGGER rules_notify_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rules
  FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog();
--> statement-breakpoint
CREATE TRIGGER webhooks_notify_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON webhooks
  FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog();
--> statement-breakpoint
-- Every new log entry, whoever wrote it and in whatever transaction, is announced on hub_log when
-- that transaction commits, so each hub pushes it to its `log_entries` topic subscribers (§11).
-- The payload is the row as JSON, or only its public_id when that would pass NOTIFY's 8000 bytes.
CREATE OR REPLACE FUNCTION hub_notify_log_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  payload text := row_to_json(NEW)::text;
BEGIN
  IF octet_length(payload) > 7000 THEN
    payload := json_build_object('public_id', NEW.public_id)::text;
  END IF;
  PERFORM pg_notify('hub_log', payload);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER log_entries_notify AFTER INSERT ON log_entries
  FOR EACH ROW EXECUTE FUNCTION hub_notify_log_entry();
