CREATE TYPE "public"."channel_direction" AS ENUM('input', 'output', 'bidirectional');--> statement-breakpoint
CREATE TYPE "public"."delivery_status" AS ENUM('pending', 'delivered', 'dead_letter');--> statement-breakpoint
CREATE TYPE "public"."event_type" AS ENUM('sensor', 'actuator', 'range', 'cmd_button', 'cmd_opened', 'cmd_closed');--> statement-breakpoint
CREATE TYPE "public"."firmware_status" AS ENUM('pending', 'downloading', 'verifying', 'applying', 'completed', 'failed', 'rolled_back');--> statement-breakpoint
CREATE TYPE "public"."instance_status" AS ENUM('inactive', 'connected', 'demo', 'error');--> statement-breakpoint
CREATE TYPE "public"."logging_type" AS ENUM('error', 'warning', 'info');--> statement-breakpoint
CREATE TYPE "public"."package_source" AS ENUM('uploaded', 'bundled');--> statement-breakpoint
CREATE TYPE "public"."rule_action_type" AS ENUM('log', 'webhook');--> statement-breakpoint
CREATE TYPE "public"."rule_operator" AS ENUM('gt', 'lt', 'eq', 'gte', 'lte', 'between', 'not_between');--> statement-breakpoint
CREATE TYPE "public"."status_type" AS ENUM('read', 'unread');--> statement-breakpoint
CREATE TYPE "public"."user_role" AS ENUM('admin', 'operator', 'viewer');--> statement-breakpoint
CREATE TYPE "public"."widget_type" AS ENUM('line_chart', 'gauge', 'stat_card', 'actuator_toggle');--> statement-breakpoint
CREATE TABLE "api_tokens" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "api_tokens_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"name" varchar(255) NOT NULL,
	"token_hash" varchar(64) NOT NULL,
	"user_public_id" uuid NOT NULL,
	"plugin_instance_public_id" uuid,
	"expires_at" timestamp with time zone,
	"last_used_at" timestamp with time zone,
	CONSTRAINT "api_tokens_public_id_unique" UNIQUE("public_id"),
	CONSTRAINT "api_tokens_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "blacklist_tokens" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "blacklist_tokens_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"jti" varchar(64) NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "blacklist_tokens_public_id_unique" UNIQUE("public_id"),
	CONSTRAINT "blacklist_tokens_jti_unique" UNIQUE("jti")
);
--> statement-breakpoint
CREATE TABLE "channel_mappings" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "channel_mappings_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"plugin_instance_public_id" uuid NOT NULL,
	"channel_id" varchar(255) NOT NULL,
	"channel_name" varchar(255) DEFAULT '' NOT NULL,
	"direction" "channel_direction" DEFAULT 'input' NOT NULL,
	"unit" varchar(50) DEFAULT '' NOT NULL,
	"event_public_id" uuid,
	CONSTRAINT "channel_mappings_public_id_unique" UNIQUE("public_id"),
	CONSTRAINT "uq_channel_mappings_instance_channel" UNIQUE("plugin_instance_public_id","channel_id")
);
--> statement-breakpoint
CREATE TABLE "dashboard_widgets" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "dashboard_widgets_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"dashboard_public_id" uuid NOT NULL,
	"widget_type" "widget_type" NOT NULL,
	"title" varchar(255) DEFAULT '' NOT NULL,
	"event_public_id" uuid,
	"x" integer DEFAULT 0 NOT NULL,
	"y" integer DEFAULT 0 NOT NULL,
	"w" integer DEFAULT 4 NOT NULL,
	"h" integer DEFAULT 3 NOT NULL,
	"config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "dashboard_widgets_public_id_unique" UNIQUE("public_id"),
	CONSTRAINT "ck_dashboard_widgets_size" CHECK ("dashboard_widgets"."w" BETWEEN 1 AND 12 AND "dashboard_widgets"."h" BETWEEN 1 AND 12),
	CONSTRAINT "ck_dashboard_widgets_position" CHECK ("dashboard_widgets"."x" >= 0 AND "dashboard_widgets"."y" >= 0)
);
--> statement-breakpoint
CREATE TABLE "dashboards" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "dashboards_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"name" varchar(255) NOT NULL,
	"is_global" boolean DEFAULT false NOT NULL,
	"user_public_id" uuid,
	CONSTRAINT "dashboards_public_id_unique" UNIQUE("public_id")
);
--> statement-breakpoint
CREATE TABLE "datapoints" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "datapoints_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"event_public_id" uuid NOT NULL,
	"experiment_public_id" uuid,
	"value" double precision NOT NULL,
	"timestamp" timestamp with time zone NOT NULL,
	CONSTRAINT "datapoints_public_id_unique" UNIQUE("public_id")
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"name" varchar(255) NOT NULL,
	"unit" varchar(50) DEFAULT '' NOT NULL,
	"min_value" double precision,
	"max_value" double precision,
	"event_type" "event_type" DEFAULT 'sensor' NOT NULL,
	"user_public_id" uuid,
	CONSTRAINT "events_public_id_unique" UNIQUE("public_id"),
	CONSTRAINT "events_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "experiments" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "experiments_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"name" varchar(255) NOT NULL,
	"started_on" timestamp with time zone DEFAULT now() NOT NULL,
	"stopped_on" timestamp with time zone,
	"user_public_id" uuid,
	CONSTRAINT "experiments_public_id_unique" UNIQUE("public_id"),
	CONSTRAINT "experiments_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "firmware_updates" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "firmware_updates_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"version" varchar(50) NOT NULL,
	"release_notes" text DEFAULT '' NOT NULL,
	"status" "firmware_status" DEFAULT 'pending' NOT NULL,
	"file_path" text,
	"file_hash_sha256" varchar(64),
	"file_size_bytes" bigint,
	"user_public_id" uuid,
	CONSTRAINT "firmware_updates_public_id_unique" UNIQUE("public_id"),
	CONSTRAINT "firmware_updates_version_unique" UNIQUE("version")
);
--> statement-breakpoint
CREATE TABLE "ingest_sequences" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "ingest_sequences_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"api_token_public_id" uuid,
	"user_public_id" uuid,
	"last_seq" bigint NOT NULL,
	"updated_on" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ingest_sequences_public_id_unique" UNIQUE("public_id"),
	CONSTRAINT "ingest_sequences_api_token_public_id_unique" UNIQUE("api_token_public_id"),
	CONSTRAINT "ingest_sequences_user_public_id_unique" UNIQUE("user_public_id"),
	CONSTRAINT "ck_ingest_sequences_one_principal" CHECK (("ingest_sequences"."api_token_public_id" IS NULL) <> ("ingest_sequences"."user_public_id" IS NULL))
);
--> statement-breakpoint
CREATE TABLE "log_entries" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "log_entries_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"content" text NOT NULL,
	"logging_type" "logging_type" DEFAULT 'info' NOT NULL,
	"status_type" "status_type" DEFAULT 'unread' NOT NULL,
	"user_public_id" uuid,
	CONSTRAINT "log_entries_public_id_unique" UNIQUE("public_id")
);
--> statement-breakpoint
CREATE TABLE "plugin_instances" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "plugin_instances_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"plugin_id" varchar(255) NOT NULL,
	"instance_name" varchar(255) NOT NULL,
	"demo_mode" boolean DEFAULT false NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"status" "instance_status" DEFAULT 'inactive' NOT NULL,
	"config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "plugin_instances_public_id_unique" UNIQUE("public_id"),
	CONSTRAINT "plugin_instances_instance_name_unique" UNIQUE("instance_name")
);
--> statement-breakpoint
CREATE TABLE "plugin_packages" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "plugin_packages_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"package_name" varchar(255) NOT NULL,
	"version" varchar(50) NOT NULL,
	"source" "package_source" DEFAULT 'uploaded' NOT NULL,
	"file_path" text,
	"file_hash_sha256" varchar(64),
	"file_size_bytes" bigint,
	"user_public_id" uuid,
	CONSTRAINT "plugin_packages_public_id_unique" UNIQUE("public_id"),
	CONSTRAINT "plugin_packages_package_name_unique" UNIQUE("package_name")
);
--> statement-breakpoint
CREATE TABLE "rules" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "rules_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"name" varchar(255) NOT NULL,
	"event_public_id" uuid NOT NULL,
	"operator" "rule_operator" NOT NULL,
	"threshold" double precision NOT NULL,
	"threshold_high" double precision,
	"action_type" "rule_action_type" DEFAULT 'log' NOT NULL,
	"webhook_event_type" varchar(100),
	"cooldown_seconds" integer DEFAULT 60 NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"last_triggered_at" timestamp with time zone,
	"user_public_id" uuid,
	CONSTRAINT "rules_public_id_unique" UNIQUE("public_id"),
	CONSTRAINT "rules_name_unique" UNIQUE("name"),
	CONSTRAINT "ck_rules_cooldown" CHECK ("rules"."cooldown_seconds" >= 0)
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "users_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"username" varchar(50) NOT NULL,
	"email" varchar(255),
	"password_hash" text NOT NULL,
	"role" "user_role" DEFAULT 'viewer' NOT NULL,
	CONSTRAINT "users_public_id_unique" UNIQUE("public_id"),
	CONSTRAINT "users_username_unique" UNIQUE("username"),
	CONSTRAINT "users_email_unique" UNIQUE("email")
);
--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "webhook_deliveries_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"webhook_public_id" uuid NOT NULL,
	"event_type" varchar(100) NOT NULL,
	"payload" jsonb NOT NULL,
	"status" "delivery_status" DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"response_code" integer,
	"last_error" text,
	"next_attempt_at" timestamp with time zone,
	"delivered_on" timestamp with time zone,
	CONSTRAINT "webhook_deliveries_public_id_unique" UNIQUE("public_id")
);
--> statement-breakpoint
CREATE TABLE "webhooks" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "webhooks_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"public_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"created_on" timestamp with time zone DEFAULT now() NOT NULL,
	"url" text NOT NULL,
	"secret" text,
	"events" text[] NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"user_public_id" uuid,
	CONSTRAINT "webhooks_public_id_unique" UNIQUE("public_id")
);
--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_user_public_id_users_public_id_fk" FOREIGN KEY ("user_public_id") REFERENCES "public"."users"("public_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_plugin_instance_public_id_plugin_instances_public_id_fk" FOREIGN KEY ("plugin_instance_public_id") REFERENCES "public"."plugin_instances"("public_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_mappings" ADD CONSTRAINT "channel_mappings_plugin_instance_public_id_plugin_instances_public_id_fk" FOREIGN KEY ("plugin_instance_public_id") REFERENCES "public"."plugin_instances"("public_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_mappings" ADD CONSTRAINT "channel_mappings_event_public_id_events_public_id_fk" FOREIGN KEY ("event_public_id") REFERENCES "public"."events"("public_id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dashboard_widgets" ADD CONSTRAINT "dashboard_widgets_dashboard_public_id_dashboards_public_id_fk" FOREIGN KEY ("dashboard_public_id") REFERENCES "public"."dashboards"("public_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dashboard_widgets" ADD CONSTRAINT "dashboard_widgets_event_public_id_events_public_id_fk" FOREIGN KEY ("event_public_id") REFERENCES "public"."events"("public_id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dashboards" ADD CONSTRAINT "dashboards_user_public_id_users_public_id_fk" FOREIGN KEY ("user_public_id") REFERENCES "public"."users"("public_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "datapoints" ADD CONSTRAINT "datapoints_event_public_id_events_public_id_fk" FOREIGN KEY ("event_public_id") REFERENCES "public"."events"("public_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "datapoints" ADD CONSTRAINT "datapoints_experiment_public_id_experiments_public_id_fk" FOREIGN KEY ("experiment_public_id") REFERENCES "public"."experiments"("public_id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_user_public_id_users_public_id_fk" FOREIGN KEY ("user_public_id") REFERENCES "public"."users"("public_id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "experiments" ADD CONSTRAINT "experiments_user_public_id_users_public_id_fk" FOREIGN KEY ("user_public_id") REFERENCES "public"."users"("public_id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "firmware_updates" ADD CONSTRAINT "firmware_updates_user_public_id_users_public_id_fk" FOREIGN KEY ("user_public_id") REFERENCES "public"."users"("public_id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ingest_sequences" ADD CONSTRAINT "ingest_sequences_api_token_public_id_api_tokens_public_id_fk" FOREIGN KEY ("api_token_public_id") REFERENCES "public"."api_tokens"("public_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ingest_sequences" ADD CONSTRAINT "ingest_sequences_user_public_id_users_public_id_fk" FOREIGN KEY ("user_public_id") REFERENCES "public"."users"("public_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "log_entries" ADD CONSTRAINT "log_entries_user_public_id_users_public_id_fk" FOREIGN KEY ("user_public_id") REFERENCES "public"."users"("public_id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "plugin_packages" ADD CONSTRAINT "plugin_packages_user_public_id_users_public_id_fk" FOREIGN KEY ("user_public_id") REFERENCES "public"."users"("public_id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rules" ADD CONSTRAINT "rules_event_public_id_events_public_id_fk" FOREIGN KEY ("event_public_id") REFERENCES "public"."events"("public_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rules" ADD CONSTRAINT "rules_user_public_id_users_public_id_fk" FOREIGN KEY ("user_public_id") REFERENCES "public"."users"("public_id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_webhook_public_id_webhooks_public_id_fk" FOREIGN KEY ("webhook_public_id") REFERENCES "public"."webhooks"("public_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhooks" ADD CONSTRAINT "webhooks_user_public_id_users_public_id_fk" FOREIGN KEY ("user_public_id") REFERENCES "public"."users"("public_id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "ix_api_tokens_user" ON "api_tokens" USING btree ("user_public_id");--> statement-breakpoint
CREATE INDEX "ix_blacklist_tokens_expires_at" ON "blacklist_tokens" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "ix_dashboard_widgets_dashboard" ON "dashboard_widgets" USING btree ("dashboard_public_id");--> statement-breakpoint
CREATE INDEX "ix_dashboards_user" ON "dashboards" USING btree ("user_public_id");--> statement-breakpoint
CREATE INDEX "ix_datapoints_event_ts" ON "datapoints" USING btree ("event_public_id","timestamp");--> statement-breakpoint
CREATE UNIQUE INDEX "ux_experiments_one_running" ON "experiments" USING btree (("stopped_on" IS NULL)) WHERE "experiments"."stopped_on" IS NULL;--> statement-breakpoint
CREATE INDEX "ix_rules_event_public_id" ON "rules" USING btree ("event_public_id");--> statement-breakpoint
CREATE INDEX "ix_webhook_deliveries_webhook" ON "webhook_deliveries" USING btree ("webhook_public_id");