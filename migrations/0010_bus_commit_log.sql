CREATE SEQUENCE "public"."ingest_hub_numbers" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE TABLE "ingest_commits" (
	"epoch" bigint PRIMARY KEY NOT NULL,
	"hub" text NOT NULL,
	"batch" bigint NOT NULL,
	"min_ts" timestamp with time zone NOT NULL,
	"max_ts" timestamp with time zone NOT NULL,
	"committed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "datapoints" ADD COLUMN "commit_batch" bigint;--> statement-breakpoint
CREATE INDEX "ix_ingest_commits_committed_at" ON "ingest_commits" USING btree ("committed_at");