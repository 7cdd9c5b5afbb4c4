import { z } from 'zod';
import {
  CalibrationSchema,
  CamMethodSchema,
  HyperparametersSchema,
  PointingScoreSchema,
  TestSetScoresSchema,
} from '@braintune/protocol';

/** Shapes of the REST API: used to validate requests and to generate /api/openapi.json. */

export { ApiErrorBodySchema as ErrorBodySchema } from '@braintune/protocol';

export const StudyIdParamsSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a study id such as st-1a2b3c4d5e'),
});
/** Every list endpoint pages with `limit` (at most 1000) and `offset`; `Link: <…>; rel="next"` names the next page. */
export const MAX_PAGE_SIZE = 1000;
const offset = z.coerce.number().int().min(0).max(10_000_000).default(0);
export const PageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(MAX_PAGE_SIZE),
  offset,
});
export const TrialsQuerySchema = PageQuerySchema.extend({
  sort: z.enum(['objective', 'index']).default('index'),
});
export const ListStudiesQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(100),
  offset,
});
/** The dashboard's leaderboard page (`GET /api/ui/studies/:id`): ranks offset + 1 … offset + limit. */
export const LeaderboardQuerySchema = ListStudiesQuerySchema;

export const SubmitResponseSchema = z.object({
  studyId: z.string(),
  state: z.string(),
  plannedRungs: z.number().int().nullable(),
  /** Distinct hyperparameter sets of the search space; null when unbounded. */
  distinctConfigurations: z.number().int().nullable().optional(),
  /** Trials the scheduler plans, when known in advance. */
  plannedTrials: z.number().int().nullable().optional(),
  /** Set when the plan wants more distinct configurations than the space holds. */
  warning: z.string().nullable().optional(),
});

/** Headline figures of one external test set (`best.test[name]`). */
export const TestSetHeadlineSchema = z.object({ accuracy: z.number(), macroF1: z.number() });

export const BestTrialSchema = z.object({
  trialId: z.string(),
  hyperparameters: HyperparametersSchema,
  score: z.number().nullable(),
  meetsConstraints: z.boolean(),
  valMacroF1: z.number().nullable(),
  valAccuracy: z.number().nullable(),
  /** The best trial (by the objective) on each external test set; never part of the ranking. */
  test: z.record(z.string(), TestSetHeadlineSchema),
});

export const StudySummarySchema = z.object({
  studyId: z.string(),
  name: z.string(),
  state: z.enum(['queued', 'running', 'completed', 'cancelled', 'failed']),
  error: z.string().nullable(),
  /** Why the study completed before its plan ran out (search space too small, a budget); else null. */
  endReason: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  objective: z.unknown(),
  trials: z.object({
    total: z.number().int(),
    completed: z.number().int(),
    failed: z.number().int(),
    running: z.number().int(),
    queued: z.number().int(),
  }),
  rungs: z.object({ planned: z.number().int(), completed: z.number().int() }),
  epochs: z.number().int(),
  /** Names of the study's external test sets (`evaluation.testSets`), in config order. */
  testSets: z.array(z.string()),
  best: BestTrialSchema.nullable(),
});

export const TrialRowSchema = z.object({
  rank: z.number().int().nullable(),
  trialId: z.string(),
  index: z.number().int(),
  bracket: z.number().int().nullable(),
  iteration: z.number().int().nullable(),
  status: z.string(),
  rung: z.number().int(),
  epochs: z.number().int(),
  score: z.number().nullable(),
  meetsConstraints: z.boolean().nullable(),
  valMacroF1: z.number().nullable(),
  valAccuracy: z.number().nullable(),
  valLoss: z.number().nullable(),
  valRecall: z.record(z.string(), z.number()).nullable(),
  /** Scores of the last finished rung on each external test set, by name (shown beside `score`). */
  test: TestSetScoresSchema,
  /** Whether the explanations point at the lesion (phantom data sets with masks), else null. */
  pointing: PointingScoreSchema.nullable(),
  hyperparameters: HyperparametersSchema,
  workerId: z.string().nullable(),
  error: z.string().nullable(),
  rungs: z.array(
    z.object({
      rung: z.number().int(),
      fromEpoch: z.number().int(),
      toEpoch: z.number().int(),
      status: z.string(),
      score: z.number().nullable(),
      workerId: z.string().nullable(),
    }),
  ),
});

export const WorkerRowSchema = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number().int().nullable(),
  backend: z.string(),
  device: z.string(),
  concurrency: z.number().int(),
  startedAt: z.string().nullable(),
  lastHeartbeat: z.string(),
  currentTrial: z.string().nullable(),
  imagesPerSecond: z.number().nullable(),
  online: z.boolean(),
});

/* Model registry responses (served by the dashboard, parsed by the CLI). */

export const VersionMetricsSchema = z.object({
  objective: z.object({ metric: z.string(), direction: z.string(), value: z.number().nullable() }).nullable(),
  meetsConstraints: z.boolean().nullable(),
  valAccuracy: z.number().nullable(),
  valMacroF1: z.number().nullable(),
  valLoss: z.number().nullable(),
  recall: z.record(z.string(), z.number()),
  epochs: z.number().int(),
  calibration: CalibrationSchema.nullable().optional(),
});

export const EnsembleMemberSchema = z.object({
  rank: z.number().int(),
  trialId: z.string(),
  dir: z.string(),
  imageSize: z.number().int(),
  valAccuracy: z.number().nullable(),
  valMacroF1: z.number().nullable(),
  temperature: z.number().nullable(),
  threshold: z.number().nullable(),
});

export const VersionInfoSchema = z.object({
  model: z.string(),
  version: z.number().int(),
  studyId: z.string().nullable(),
  studyName: z.string().nullable(),
  trialId: z.string().nullable(),
  artifactKey: z.string(),
  metrics: VersionMetricsSchema,
  hyperparameters: z.record(z.string(), z.unknown()),
  classes: z.array(z.string()),
  imageSize: z.number().int(),
  preprocessing: z.record(z.string(), z.unknown()),
  /** The promoted trial's external test-set scores, by name (kept apart from `metrics`). */
  test: TestSetScoresSchema,
  createdAt: z.string(),
  createdBy: z.string(),
  aliases: z.array(z.string()),
  kind: z.enum(['single', 'ensemble']),
  members: z.array(EnsembleMemberSchema).nullable(),
});

export const AliasEventInfoSchema = z.object({
  alias: z.string(),
  fromVersion: z.number().int().nullable(),
  toVersion: z.number().int(),
  at: z.string(),
  by: z.string(),
  rollback: z.boolean(),
});

export const ModelInfoSchema = z.object({
  name: z.string(),
  description: z.string(),
  createdAt: z.string(),
  versions: z.array(VersionInfoSchema),
  aliases: z.record(z.string(), z.number().int()),
  history: z.array(AliasEventInfoSchema),
});

export const ListModelsResponseSchema = z.object({ models: z.array(ModelInfoSchema) });

/** `POST /api/models/promote`: a study's best trial (or the one named) becomes a new version. */
export const PromoteRequestSchema = z.object({
  studyId: z.string().min(1),
  trialId: z.string().min(1).optional(),
  model: z.string().min(1).default('brain-mri'),
  alias: z.string().min(1).optional(),
  /** Promote the study's K best trials as one ensemble version. */
  top: z.coerce.number().int().min(1).optional(),
});
/** `PUT /api/models/:name/aliases/:alias`: point an alias at a version. */
export const AliasRequestSchema = z.object({ version: z.coerce.number().int().min(1) });

export const PromoteResultSchema = z.object({
  model: z.string(),
  version: z.number().int(),
  trialId: z.string(),
  studyId: z.string(),
  artifactKey: z.string(),
  alias: z.string().nullable(),
  members: z.array(z.string()).nullable(),
});

export const RegistryPredictionSchema = z.object({
  model: z.string(),
  version: z.number().int(),
  alias: z.string().nullable(),
  classes: z.array(z.string()),
  /** Calibrated probabilities (averaged over TTA passes and ensemble members). */
  probabilities: z.array(z.number()),
  /** The most probable class, also when the scan is referred. */
  predicted: z.string(),
  confidence: z.number(),
  /** Referral threshold chosen on validation (0 = never refer). */
  threshold: z.number(),
  refer: z.boolean(),
  /** `predicted`, or "refer" (to a radiologist) below the threshold. */
  decision: z.string(),
  /** Temperature applied; null for an ensemble (each member applies its own). */
  temperature: z.number().nullable(),
  tta: z.boolean(),
  /** Members of an ensemble version (the Grad-CAM is member 1's); null for a single checkpoint. */
  ensemble: z
    .object({ members: z.array(z.object({ rank: z.number().int(), trialId: z.string().nullable() })) })
    .nullable(),
  preprocessing: z.object({
    imageSize: z.number(),
    grayscale: z.boolean(),
    resize: z.string(),
    kernel: z.string(),
    pixelScale: z.number(),
    scale: z.string(),
    headCrop: z.boolean(),
    cropMargin: z.number(),
    intensity: z.string(),
  }),
  input: z.object({ format: z.string(), width: z.number(), height: z.number() }),
  gradcam: z.object({
    layer: z.string(),
    method: CamMethodSchema,
    classIndex: z.number().int(),
    width: z.number(),
    height: z.number(),
  }),
  images: z.object({ scan: z.string(), modelInput: z.string(), gradcam: z.string() }),
});

/**
 * Compile-time proof that a schema and a hand-written interface describe the same shape
 * (used where the interface lives in a module this file must not own).
 */
export type SameShape<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
