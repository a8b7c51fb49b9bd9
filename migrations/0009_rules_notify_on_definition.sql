-- Hand-written. Claiming a rule's cooldown updates its last_triggered_at in every ingest batch that
-- has a candidate; that is not a change of the rule, and must not make every hub reload its rules.
-- The catalog trigger now fires only when a column that defines a rule changes.
DROP TRIGGER IF EXISTS rules_notify_catalog ON rules;
--> statement-breakpoint
CREATE TRIGGER rules_notify_catalog
  AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF name, event_public_id, operator, threshold, threshold_high,
    action_type, webhook_event_type, cooldown_seconds, enabled
  ON rules FOR EACH STATEMENT EXECUTE FUNCTION hub_notify_catalog();
