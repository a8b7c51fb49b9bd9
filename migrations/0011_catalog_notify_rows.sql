-- Hand-written. The ingest catalog follows events and channel mappings row by row: a statement
-- that changes a few rows notifies hub_catalog with those rows (JSON: the table, the old rows,
-- the new rows), so each hub applies just them instead of reloading the whole table, which made
-- creating n mappings cost O(n²). A statement of many rows (or TRUNCATE) still notifies the
-- table's name, and the hubs reload that table whole, as before.
CREATE OR REPLACE FUNCTION hub_notify_catalog_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_json json := '[]';
  new_json json := '[]';
  n integer := 0;
  payload text;
BEGIN
  -- Transition tables exist only for the operations that have them: each is read in its branch.
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    SELECT count(*) INTO n FROM old_rows;
  ELSE
    SELECT count(*) INTO n FROM new_rows;
  END IF;
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  IF n > 40 THEN
    PERFORM pg_notify('hub_catalog', TG_TABLE_NAME);
    RETURN NULL;
  END IF;
  IF TG_TABLE_NAME = 'events' THEN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
      SELECT coalesce(json_agg(public_id), '[]') INTO old_json FROM old_rows;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
      SELECT coalesce(json_agg(public_id), '[]') INTO new_json FROM new_rows;
    END IF;
  ELSE
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
      SELECT coalesce(json_agg(json_build_array(plugin_instance_public_id, channel_id, event_public_id)), '[]') INTO old_json FROM old_rows;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
      SELECT coalesce(json_agg(json_build_array(plugin_instance_public_id, channel_id, event_public_id)), '[]') INTO new_json FROM new_rows;
    END IF;
  END IF;
  payload := json_build_object('table', TG_TABLE_NAME, 'old', old_json, 'new', new_json)::text;
  -- NOTIFY's payload must stay under 8000 bytes (long channel ids): then the whole table.
  IF octet_length(payload) > 7000 THEN
    payload := TG_TABLE_NAME;
  END IF;
  PERFORM pg_notify('hub_catalog', payload);
  RETURN NULL;
END;
$$;
--> statement-breakpoint
DROP TRIGGER events_notify_catalog ON events;
--> statement-breakpoint
CREATE TRIGGER events_notify_catalog AFTER TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog();
--> statement-breakpoint
CREATE TRIGGER events_notify_catalog_insert AFTER INSERT ON events
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog_rows();
--> statement-breakpoint
CREATE TRIGGER events_notify_catalog_update AFTER UPDATE ON events
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog_rows();
--> statement-breakpoint
CREATE TRIGGER events_notify_catalog_delete AFTER DELETE ON events
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog_rows();
--> statement-breakpoint
DROP TRIGGER channel_mappings_notify_catalog ON channel_mappings;
--> statement-breakpoint
CREATE TRIGGER channel_mappings_notify_catalog AFTER TRUNCATE ON channel_mappings
  FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog();
--> statement-breakpoint
CREATE TRIGGER channel_mappings_notify_catalog_insert AFTER INSERT ON channel_mappings
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog_rows();
--> statement-breakpoint
CREATE TRIGGER channel_mappings_notify_catalog_update AFTER UPDATE ON channel_mappings
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog_rows();
--> statement-breakpoint
CREATE TRIGGER channel_mappings_notify_catalog_delete AFTER DELETE ON channel_mappings
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog_rows();
