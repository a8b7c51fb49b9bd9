ALTER TABLE "plugin_instances" ADD COLUMN "last_seen_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "plugin_instances" ADD COLUMN "firmware_update_public_id" uuid;--> statement-breakpoint
ALTER TABLE "plugin_instances" ADD COLUMN "firmware_status" "firmware_status";--> statement-breakpoint
ALTER TABLE "plugin_instances" ADD COLUMN "firmware_version" varchar(50);--> statement-breakpoint
ALTER TABLE "plugin_instances" ADD CONSTRAINT "plugin_instances_firmware_update_public_id_firmware_updates_public_id_fk" FOREIGN KEY ("firmware_update_public_id") REFERENCES "public"."firmware_updates"("public_id") ON DELETE set null ON UPDATE no action;