-- Hand-written (drizzle cannot express partitioning): `datapoints` becomes a table range-partitioned
-- on "timestamp", keeping every stored row (PROTOCOL.md §16). Columns, constraint and index names
-- are the ones src/db/schema.ts gives drizzle, so later generated migrations apply unchanged.
--
-- The old table is not copied: it is attached as one partition (partitions.datapoints_legacy)
-- covering the UTC days it holds rows for, which costs one primary-key build and one validating
-- scan instead of a rewrite of every row. An empty old table is simply dropped.
-- Partitions live in schema "partitions"; src/db/partitions.ts creates them ahead of time.
CREATE SCHEMA IF NOT EXISTS "partitions";--> statement-breakpoint
ALTER TABLE "datapoints" RENAME TO "datapoints_legacy";--> statement-breakpoint
ALTER TABLE "datapoints_legacy" RENAME CONSTRAINT "datapoints_pkey" TO "datapoints_legacy_id_pkey";--> statement-breakpoint
ALTER INDEX "ix_datapoints_event_ts" RENAME TO "datapoints_legacy_event_ts";--> statement-breakpoint
ALTER SEQUENCE "datapoints_id_seq" RENAME TO "datapoints_legacy_id_seq";--> statement-breakpoint
CREATE TABLE "datapoints" (
	"id" bigint GENERATED ALWAYS AS IDENTITY (sequence name "datapoints_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1) NOT NULL,
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"event_public_id" uuid NOT NULL,
	"experiment_public_id" uuid,
	"value" double precision NOT NULL,
	"timestamp" timestamp with time zone NOT NULL,
	CONSTRAINT "datapoints_pkey" PRIMARY KEY("public_id","timestamp")
) PARTITION BY RANGE ("timestamp");--> statement-breakpoint
ALTER TABLE "datapoints" ADD CONSTRAINT "datapoints_event_public_id_events_public_id_fk" FOREIGN KEY ("event_public_id") REFERENCES "public"."events"("public_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "datapoints" ADD CONSTRAINT "datapoints_experiment_public_id_experiments_public_id_fk" FOREIGN KEY ("experiment_public_id") REFERENCES "public"."experiments"("public_id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "ix_datapoints_event_ts" ON "datapoints" USING btree ("event_public_id","timestamp");--> statement-breakpoint
-- A point whose time falls in no partition is stored here, never refused.
CREATE TABLE "partitions"."datapoints_default" PARTITION OF "datapoints" DEFAULT;--> statement-breakpoint
DO $$
DECLARE
  lo timestamptz;
  hi timestamptz;
  last_id bigint;
BEGIN
  SELECT date_bin('1 day', min("timestamp"), 'epoch'), date_bin('1 day', max("timestamp"), 'epoch') + interval '1 day', max("id")
    INTO lo, hi, last_id
    FROM "datapoints_legacy";
  IF lo IS NULL THEN
    DROP TABLE "datapoints_legacy";
    RETURN;
  END IF;
  -- The new table's ids continue after the old ones.
  PERFORM setval('"datapoints_id_seq"', last_id);
  -- The old table's own identity sequence, id key and public_id key go; its event index and
  -- foreign keys match the new table's and are taken over as they are when it is attached.
  ALTER TABLE "datapoints_legacy" ALTER COLUMN "id" DROP IDENTITY;
  ALTER TABLE "datapoints_legacy" DROP CONSTRAINT "datapoints_legacy_id_pkey";
  ALTER TABLE "datapoints_legacy" DROP CONSTRAINT "datapoints_public_id_unique";
  ALTER TABLE "datapoints_legacy" ADD CONSTRAINT "datapoints_legacy_pkey" PRIMARY KEY ("public_id", "timestamp");
  ALTER TABLE "datapoints_legacy" SET SCHEMA "partitions";
  EXECUTE format('ALTER TABLE "datapoints" ATTACH PARTITION "partitions"."datapoints_legacy" FOR VALUES FROM (%L) TO (%L)', lo, hi);
END
$$;--> statement-breakpoint
-- The webhook sender's claim: due pending deliveries of one webhook (src/db/outbox-store.ts).
CREATE INDEX "ix_webhook_deliveries_pending" ON "webhook_deliveries" USING btree ("webhook_public_id","next_attempt_at") WHERE "webhook_deliveries"."status" = 'pending';
