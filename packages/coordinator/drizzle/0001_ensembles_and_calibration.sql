ALTER TABLE "evaluations" ADD COLUMN "calibration" jsonb;--> statement-breakpoint
ALTER TABLE "model_versions" ADD COLUMN "members" jsonb;