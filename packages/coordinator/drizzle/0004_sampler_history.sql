ALTER TABLE "trial_rungs" ADD COLUMN "result_seq" bigint;--> statement-breakpoint
ALTER TABLE "trials" ADD COLUMN "history_seq" bigint;--> statement-breakpoint
CREATE INDEX "trial_rungs_study_result_seq_idx" ON "trial_rungs" USING btree ("study_id","result_seq");--> statement-breakpoint
-- The sampler's history is "every rung result recorded before the trial was proposed"
-- (src/scheduling/sampler.ts). Triggers stamp both ends, so no code path can forget it: a rung
-- gets the next number of one global sequence when it ends, and a new trial the largest number
-- its study had at that moment (the coordinator proposes and inserts in the same transaction).
CREATE SEQUENCE IF NOT EXISTS "rung_result_seq";--> statement-breakpoint
CREATE OR REPLACE FUNCTION braintune_stamp_rung_result() RETURNS trigger AS $$
BEGIN
  IF NEW.status IN ('completed', 'failed', 'cancelled') AND NEW.result_seq IS NULL THEN
    NEW.result_seq := nextval('rung_result_seq');
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;--> statement-breakpoint
CREATE TRIGGER trial_rungs_result_seq BEFORE INSERT OR UPDATE OF status ON trial_rungs
  FOR EACH ROW EXECUTE FUNCTION braintune_stamp_rung_result();--> statement-breakpoint
CREATE OR REPLACE FUNCTION braintune_stamp_trial_history() RETURNS trigger AS $$
BEGIN
  IF NEW.history_seq IS NULL THEN
    NEW.history_seq := COALESCE(
      (SELECT max(result_seq) FROM trial_rungs WHERE study_id = NEW.study_id), 0);
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;--> statement-breakpoint
CREATE TRIGGER trials_history_seq BEFORE INSERT ON trials
  FOR EACH ROW EXECUTE FUNCTION braintune_stamp_trial_history();
