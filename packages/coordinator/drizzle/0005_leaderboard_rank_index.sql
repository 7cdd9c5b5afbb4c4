CREATE INDEX "trials_study_rank_idx" ON "trials" USING btree ("study_id",("score" IS NULL),("meets_constraints" IS TRUE) DESC,"score" DESC NULLS LAST,"epochs_done" DESC NULLS LAST,"index");
