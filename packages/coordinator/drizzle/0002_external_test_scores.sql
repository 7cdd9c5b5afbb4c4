ALTER TABLE "model_versions" ADD COLUMN "test_scores" jsonb;--> statement-breakpoint
ALTER TABLE "trial_rungs" ADD COLUMN "test_scores" jsonb;--> statement-breakpoint
ALTER TABLE "trials" ADD COLUMN "test_scores" jsonb;