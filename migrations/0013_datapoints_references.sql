-- Partly hand-written (drizzle cannot express triggers or INCLUDE). PROTOCOL.md §16, issue 14.
--
-- `datapoints` loses its two foreign keys: PostgreSQL checks a foreign key with a query per row,
-- nearly half of what a COPY of a row costs (500 000 rows: 4.7–4.9 s with both keys, 2.5–2.7 s
-- without, 2.7–2.8 s with the guarded trigger below). The same guarantees are kept:
-- - the COPY writer calls hub_hold_datapoint_references() once per batch, in the batch's
--   transaction: it takes the lock a foreign key takes (FOR KEY SHARE) on the batch's events and
--   its experiment, and fails with foreign_key_violation (23503, with the detail PostgreSQL's own
--   key gives) when one is gone; that transaction told the trigger to skip its rows
--   (SET LOCAL hub.datapoint_references_held = 'on', which only the hub's writer does);
-- - every other insert or update (the `datapoints` ops, psql) is checked row by row by the trigger;
-- - deleting an event deletes its points, deleting an experiment clears it from its points.
-- Unlike a foreign key: any role may set the flag, TRUNCATE events leaves points behind, and a
-- delete run at REPEATABLE READ or SERIALIZABLE misses points a batch committed while it waited
-- on that batch's lock (the hub deletes at READ COMMITTED, where the trigger's DELETE sees them).
ALTER TABLE "datapoints" DROP CONSTRAINT "datapoints_event_public_id_events_public_id_fk";
--> statement-breakpoint
ALTER TABLE "datapoints" DROP CONSTRAINT "datapoints_experiment_public_id_experiments_public_id_fk";
--> statement-breakpoint
CREATE OR REPLACE PROCEDURE "hub_hold_datapoint_references"(p_events uuid[], p_experiment uuid)
LANGUAGE plpgsql AS $$
DECLARE
  missing uuid;
BEGIN
  PERFORM 1 FROM "events" WHERE "public_id" = ANY (p_events) ORDER BY "public_id" FOR KEY SHARE;
  SELECT e INTO missing FROM unnest(p_events) AS e
   WHERE NOT EXISTS (SELECT 1 FROM "events" WHERE "public_id" = e) LIMIT 1;
  IF missing IS NOT NULL THEN
    RAISE foreign_key_violation USING
      MESSAGE = 'insert or update on table "datapoints" names a missing event',
      DETAIL = format('Key (event_public_id)=(%s) is not present in table "events".', missing);
  END IF;
  IF p_experiment IS NOT NULL THEN
    PERFORM 1 FROM "experiments" WHERE "public_id" = p_experiment FOR KEY SHARE;
    IF NOT FOUND THEN
      RAISE foreign_key_violation USING
        MESSAGE = 'insert or update on table "datapoints" names a missing experiment',
        DETAIL = format('Key (experiment_public_id)=(%s) is not present in table "experiments".', p_experiment);
    END IF;
  END IF;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "hub_datapoint_references"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW."event_public_id" IS DISTINCT FROM OLD."event_public_id" THEN
    PERFORM 1 FROM "events" WHERE "public_id" = NEW."event_public_id" FOR KEY SHARE;
    IF NOT FOUND THEN
      RAISE foreign_key_violation USING
        MESSAGE = 'insert or update on table "datapoints" names a missing event',
        DETAIL = format('Key (event_public_id)=(%s) is not present in table "events".', NEW."event_public_id");
    END IF;
  END IF;
  IF NEW."experiment_public_id" IS NOT NULL AND (TG_OP = 'INSERT' OR NEW."experiment_public_id" IS DISTINCT FROM OLD."experiment_public_id") THEN
    PERFORM 1 FROM "experiments" WHERE "public_id" = NEW."experiment_public_id" FOR KEY SHARE;
    IF NOT FOUND THEN
      RAISE foreign_key_violation USING
        MESSAGE = 'insert or update on table "datapoints" names a missing experiment',
        DETAIL = format('Key (experiment_public_id)=(%s) is not present in table "experiments".', NEW."experiment_public_id");
    END IF;
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
-- Skipped only in a transaction that held its references (the COPY writer's): evaluating this
-- WHEN is the one per-row cost left to a COPY.
CREATE TRIGGER "datapoints_references" BEFORE INSERT OR UPDATE OF "event_public_id", "experiment_public_id" ON "datapoints"
  FOR EACH ROW WHEN (current_setting('hub.datapoint_references_held', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION "hub_datapoint_references"();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "hub_event_deleted"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "datapoints" WHERE "event_public_id" = OLD."public_id";
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "events_delete_datapoints" AFTER DELETE ON "events" FOR EACH ROW EXECUTE FUNCTION "hub_event_deleted"();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION "hub_experiment_deleted"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "datapoints" SET "experiment_public_id" = NULL WHERE "experiment_public_id" = OLD."public_id";
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "experiments_delete_datapoints" AFTER DELETE ON "experiments" FOR EACH ROW EXECUTE FUNCTION "hub_experiment_deleted"();
--> statement-breakpoint
-- History reads (value) from the index alone (an index-only scan): a week of buckets of one event
-- otherwise visits a heap page per point, pages shared with every other event. Measured at the
-- COPY: no cost beyond noise (500 000 rows, 4.1–4.2 s with INCLUDE, 4.1–4.5 s without).
-- Rebuilding it locks `datapoints` for the build; on a very large table, build the partitions'
-- indexes CONCURRENTLY first (see README, Storage).
DROP INDEX "ix_datapoints_event_ts";
--> statement-breakpoint
CREATE INDEX "ix_datapoints_event_ts" ON "datapoints" USING btree ("event_public_id", "timestamp") INCLUDE ("value");
