ALTER TABLE "users" ADD COLUMN "oidc_issuer" varchar(255);--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "oidc_subject" varchar(255);--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "password_login" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "uq_users_oidc_identity" UNIQUE("oidc_issuer","oidc_subject");--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "ck_users_oidc_identity" CHECK (("users"."oidc_issuer" IS NULL) = ("users"."oidc_subject" IS NULL));