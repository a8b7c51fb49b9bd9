CREATE TABLE "ingest_epoch" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "ingest_epoch_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"epoch" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "ingest_epoch_public_id_unique" UNIQUE("public_id")
);
