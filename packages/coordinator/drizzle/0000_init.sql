CREATE TABLE "alias_events" (
	"id" serial PRIMARY KEY NOT NULL,
	"model_name" text NOT NULL,
	"alias" text NOT NULL,
	"from_version" integer,
	"to_version" integer NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"by" text DEFAULT 'unknown' NOT NULL
);
--> statement-breakpoint
CREATE TABLE "epoch_metrics" (
	"id" serial PRIMARY KEY NOT NULL,
	"trial_id" text NOT NULL,
	"study_id" text NOT NULL,
	"rung" integer NOT NULL,
	"epoch" integer NOT NULL,
	"loss" double precision NOT NULL,
	"accuracy" double precision NOT NULL,
	"val_loss" double precision NOT NULL,
	"val_accuracy" double precision NOT NULL,
	"val_macro_f1" double precision NOT NULL,
	"val_recall" jsonb NOT NULL,
	"train_images_per_second" double precision NOT NULL,
	"duration_ms" double precision NOT NULL,
	"worker_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "evaluations" (
	"id" serial PRIMARY KEY NOT NULL,
	"trial_id" text NOT NULL,
	"study_id" text NOT NULL,
	"rung" integer NOT NULL,
	"job_id" text NOT NULL,
	"epoch" integer NOT NULL,
	"classes" jsonb NOT NULL,
	"confusion_matrix" jsonb NOT NULL,
	"report" jsonb NOT NULL,
	"loss" double precision NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "model_aliases" (
	"model_name" text NOT NULL,
	"alias" text NOT NULL,
	"version" integer NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_by" text DEFAULT 'unknown' NOT NULL,
	CONSTRAINT "model_aliases_model_name_alias_pk" PRIMARY KEY("model_name","alias")
);
--> statement-breakpoint
CREATE TABLE "model_versions" (
	"id" serial PRIMARY KEY NOT NULL,
	"model_name" text NOT NULL,
	"version" integer NOT NULL,
	"study_id" text,
	"trial_id" text,
	"artifact_key" text NOT NULL,
	"metrics" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"hyperparameters" jsonb NOT NULL,
	"classes" jsonb NOT NULL,
	"image_size" integer NOT NULL,
	"preprocessing" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" text DEFAULT 'unknown' NOT NULL
);
--> statement-breakpoint
CREATE TABLE "models" (
	"name" text PRIMARY KEY NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "studies" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"config" jsonb NOT NULL,
	"source" jsonb NOT NULL,
	"state" text DEFAULT 'preparing' NOT NULL,
	"dataset" jsonb,
	"datasets" jsonb,
	"planned_rungs" integer,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "trial_rungs" (
	"id" serial PRIMARY KEY NOT NULL,
	"trial_id" text NOT NULL,
	"study_id" text NOT NULL,
	"rung" integer NOT NULL,
	"from_epoch" integer NOT NULL,
	"to_epoch" integer NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"score" double precision,
	"meets_constraints" boolean DEFAULT false NOT NULL,
	"job_id" text NOT NULL,
	"worker_id" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error" text,
	"queued_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "trials" (
	"id" text PRIMARY KEY NOT NULL,
	"study_id" text NOT NULL,
	"index" integer NOT NULL,
	"bracket" integer,
	"iteration" integer,
	"hyperparameters" jsonb NOT NULL,
	"hp_hash" text NOT NULL,
	"seed" bigint NOT NULL,
	"checkpoint_key" text NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"current_rung" integer DEFAULT 0 NOT NULL,
	"epochs_done" integer DEFAULT 0 NOT NULL,
	"worker_id" text,
	"score" double precision,
	"meets_constraints" boolean,
	"val_macro_f1" double precision,
	"val_accuracy" double precision,
	"val_loss" double precision,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "workers" (
	"id" text PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"pid" integer,
	"backend" text NOT NULL,
	"device" text NOT NULL,
	"concurrency" integer DEFAULT 1 NOT NULL,
	"started_at" timestamp with time zone,
	"last_heartbeat" timestamp with time zone NOT NULL,
	"current_trial" text,
	"images_per_second" double precision
);
--> statement-breakpoint
ALTER TABLE "alias_events" ADD CONSTRAINT "alias_events_model_name_models_name_fk" FOREIGN KEY ("model_name") REFERENCES "public"."models"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "epoch_metrics" ADD CONSTRAINT "epoch_metrics_trial_id_trials_id_fk" FOREIGN KEY ("trial_id") REFERENCES "public"."trials"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "evaluations" ADD CONSTRAINT "evaluations_trial_id_trials_id_fk" FOREIGN KEY ("trial_id") REFERENCES "public"."trials"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_aliases" ADD CONSTRAINT "model_aliases_model_name_models_name_fk" FOREIGN KEY ("model_name") REFERENCES "public"."models"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_versions" ADD CONSTRAINT "model_versions_model_name_models_name_fk" FOREIGN KEY ("model_name") REFERENCES "public"."models"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_versions" ADD CONSTRAINT "model_versions_study_id_studies_id_fk" FOREIGN KEY ("study_id") REFERENCES "public"."studies"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_versions" ADD CONSTRAINT "model_versions_trial_id_trials_id_fk" FOREIGN KEY ("trial_id") REFERENCES "public"."trials"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "trial_rungs" ADD CONSTRAINT "trial_rungs_trial_id_trials_id_fk" FOREIGN KEY ("trial_id") REFERENCES "public"."trials"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "trials" ADD CONSTRAINT "trials_study_id_studies_id_fk" FOREIGN KEY ("study_id") REFERENCES "public"."studies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "alias_events_model_alias_idx" ON "alias_events" USING btree ("model_name","alias");--> statement-breakpoint
CREATE UNIQUE INDEX "epoch_metrics_trial_epoch_uq" ON "epoch_metrics" USING btree ("trial_id","epoch");--> statement-breakpoint
CREATE INDEX "epoch_metrics_study_idx" ON "epoch_metrics" USING btree ("study_id");--> statement-breakpoint
CREATE UNIQUE INDEX "evaluations_job_id_uq" ON "evaluations" USING btree ("job_id");--> statement-breakpoint
CREATE UNIQUE INDEX "evaluations_trial_rung_uq" ON "evaluations" USING btree ("trial_id","rung");--> statement-breakpoint
CREATE UNIQUE INDEX "model_versions_model_version_uq" ON "model_versions" USING btree ("model_name","version");--> statement-breakpoint
CREATE UNIQUE INDEX "trial_rungs_job_id_uq" ON "trial_rungs" USING btree ("job_id");--> statement-breakpoint
CREATE UNIQUE INDEX "trial_rungs_trial_rung_uq" ON "trial_rungs" USING btree ("trial_id","rung");--> statement-breakpoint
CREATE INDEX "trial_rungs_study_status_idx" ON "trial_rungs" USING btree ("study_id","status");--> statement-breakpoint
CREATE UNIQUE INDEX "trials_study_index_uq" ON "trials" USING btree ("study_id","index");--> statement-breakpoint
CREATE UNIQUE INDEX "trials_study_hp_hash_uq" ON "trials" USING btree ("study_id","hp_hash");