ALTER TABLE "trial_rungs" ADD COLUMN "pointing" jsonb;--> statement-breakpoint
ALTER TABLE "trials" ADD COLUMN "pointing" jsonb;