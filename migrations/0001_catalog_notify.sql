-- Hand-written. The hub keeps what ingest validates against (events, channel mappings, the
-- running experiment) in memory; every change to those tables, by any hub process or by hand,
-- notifies channel hub_catalog with the table's name so each hub reloads that part at once.
CREATE OR REPLACE FUNCTION hub_notify_catalog() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('hub_catalog', TG_TABLE_NAME);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER events_notify_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog();
--> statement-breakpoint
CREATE TRIGGER channel_mappings_notify_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON channel_mappings
  FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog();
--> statement-breakpoint
CREATE TRIGGER experiments_notify_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON experiments
  FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog();
