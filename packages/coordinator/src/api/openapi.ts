import { z } from 'zod';
import {
  AliasRequestSchema,
  ErrorBodySchema,
  LeaderboardQuerySchema,
  ListModelsResponseSchema,
  ListStudiesQuerySchema,
  ModelInfoSchema,
  PageQuerySchema,
  PromoteRequestSchema,
  PromoteResultSchema,
  RegistryPredictionSchema,
  StudySummarySchema,
  SubmitResponseSchema,
  TrialRowSchema,
  TrialsQuerySchema,
  WorkerRowSchema,
} from './schemas.js';
import { StudyAnalysisSchema } from '../study/analysis.js';

/**
 * The one description of every HTTP route clients use, generated from the zod schemas the
 * routes validate and answer with: the coordinator's REST API, the dashboard's registry,
 * predictions, live events, page data, health and pages. A test walks the mounted express
 * routers and fails on any route missing here.
 */

type Schema = z.ZodType;
type Method = 'get' | 'post' | 'put' | 'delete';

interface Route {
  method: Method;
  /** Express syntax (`/api/studies/:id`); becomes `{id}` in the document. */
  path: string;
  summary: string;
  tag: string;
  query?: z.ZodObject;
  /** JSON (or YAML) request body. */
  body?: Schema | 'study-config' | 'multipart-scan';
  /** The success answer: a schema for JSON, or a media type for anything else. */
  ok: { status?: number; description: string; schema?: Schema; mediaType?: string };
  /** Extra answers besides 400/404 (e.g. 409). */
  errors?: Record<string, string>;
  /** Needs the API token when one is configured (every state-changing call). */
  guarded?: boolean;
}

const toJson = (schema: Schema, io: 'input' | 'output' = 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any' });
const json = (schema: Schema) => ({ 'application/json': { schema: toJson(schema) } });
const Anything = z.record(z.string(), z.unknown());

const ROUTES: Route[] = [
  // ---------------------------------------------------------------- studies (coordinator)
  {
    method: 'post',
    path: '/api/studies',
    tag: 'studies',
    summary: 'Submit a study (YAML or JSON body)',
    body: 'study-config',
    ok: { status: 201, description: 'accepted', schema: SubmitResponseSchema },
    guarded: true,
  },
  {
    method: 'get',
    path: '/api/studies',
    tag: 'studies',
    summary: 'List studies, newest first',
    query: ListStudiesQuerySchema,
    ok: { description: 'studies', schema: z.array(StudySummarySchema) },
  },
  {
    method: 'get',
    path: '/api/studies/:id',
    tag: 'studies',
    summary: 'One study with progress, best trial and why it ended early (endReason)',
    ok: { description: 'study', schema: StudySummarySchema },
  },
  {
    method: 'get',
    path: '/api/studies/:id/analysis',
    tag: 'studies',
    summary:
      'Hyperparameter importance (PED-ANOVA), parallel-coordinate and slice data, optimisation history (bounded to 2,000 points)',
    ok: { description: 'analysis', schema: StudyAnalysisSchema },
  },
  {
    method: 'get',
    path: '/api/studies/:id/trials',
    tag: 'studies',
    summary: "A study's trials (sort=objective ranks constraint-meeting trials first)",
    query: TrialsQuerySchema,
    ok: { description: 'trials', schema: z.array(TrialRowSchema) },
  },
  {
    method: 'post',
    path: '/api/studies/:id/cancel',
    tag: 'studies',
    summary: 'Cancel a study: waiting rungs are removed, running ones stop after their epoch',
    ok: { description: 'cancelled', schema: StudySummarySchema },
    errors: { '409': 'already finished' },
    guarded: true,
  },
  {
    method: 'get',
    path: '/api/studies/:id/events',
    tag: 'studies',
    summary:
      'Live leaderboard: a `snapshot` server-sent event first (JSON of GET /api/ui/studies/{id} and its `seq`), then on every change a `delta` with the next `seq` (the first page in rank order, the rows and curves that changed, other parts when they changed); a client that missed a seq reconnects for a fresh snapshot',
    ok: { description: 'an event stream', mediaType: 'text/event-stream' },
  },
  {
    method: 'get',
    path: '/api/workers',
    tag: 'workers',
    summary: 'Workers seen by the coordinator, with their current trial',
    query: PageQuerySchema,
    ok: { description: 'workers', schema: z.array(WorkerRowSchema) },
  },
  {
    method: 'get',
    path: '/api/openapi.json',
    tag: 'meta',
    summary: 'This document',
    ok: { description: 'OpenAPI 3.1', schema: Anything },
  },
  // ---------------------------------------------------------------- registry (dashboard)
  {
    method: 'get',
    path: '/api/models',
    tag: 'registry',
    summary: 'Registered models by name, with their versions, aliases and alias history',
    query: PageQuerySchema,
    ok: { description: 'models', schema: ListModelsResponseSchema },
  },
  {
    method: 'get',
    path: '/api/models/:name',
    tag: 'registry',
    summary: 'One model',
    ok: { description: 'model', schema: ModelInfoSchema },
  },
  {
    method: 'post',
    path: '/api/models/promote',
    tag: 'registry',
    summary: "Promote a study's best trial (or the one named) to a new model version",
    body: PromoteRequestSchema,
    ok: { status: 201, description: 'the new version', schema: PromoteResultSchema },
    errors: { '409': 'the trial has no usable checkpoint' },
    guarded: true,
  },
  {
    method: 'put',
    path: '/api/models/:name/aliases/:alias',
    tag: 'registry',
    summary: 'Point an alias (e.g. production) at a version',
    body: AliasRequestSchema,
    ok: { description: 'the model', schema: ModelInfoSchema },
    guarded: true,
  },
  {
    method: 'post',
    path: '/api/models/:name/aliases/:alias/rollback',
    tag: 'registry',
    summary: 'Point an alias back at the version it named before',
    ok: { description: 'the model', schema: ModelInfoSchema },
    errors: { '409': 'the alias has no earlier version' },
    guarded: true,
  },
  {
    method: 'get',
    path: '/api/models/:name/versions/:version/download',
    tag: 'registry',
    summary: 'A version as a TensorFlow.js model zip (model.json, weights, preprocessing)',
    ok: { description: 'zip archive', mediaType: 'application/zip' },
  },
  {
    method: 'post',
    path: '/api/predict',
    tag: 'predictions',
    summary: 'Classify an uploaded scan (multipart: image, optional model `name@alias`) with Grad-CAM',
    body: 'multipart-scan',
    ok: { description: 'prediction', schema: RegistryPredictionSchema },
    errors: { '413': 'file too large', '415': 'not an image' },
    guarded: true,
  },
  // ---------------------------------------------------------------- dashboard page data
  {
    method: 'get',
    path: '/api/ui/studies',
    tag: 'dashboard',
    summary: 'Studies as the dashboard lists them, newest first',
    query: ListStudiesQuerySchema,
    ok: { description: 'studies', schema: z.object({ studies: z.array(Anything) }) },
  },
  {
    method: 'get',
    path: '/api/ui/studies/:id',
    tag: 'dashboard',
    summary:
      "A study's dashboard snapshot: one leaderboard page ranked by the database (ranks offset + 1 … offset + limit), its curves, brackets, workers",
    query: LeaderboardQuerySchema,
    ok: { description: 'snapshot', schema: Anything },
  },
  {
    method: 'get',
    path: '/api/ui/studies/:id/analysis',
    tag: 'dashboard',
    summary: "The study page's search analysis (same shape as /api/studies/{id}/analysis)",
    ok: { description: 'analysis', schema: StudyAnalysisSchema },
  },
  {
    method: 'get',
    path: '/api/ui/trials/:id',
    tag: 'dashboard',
    summary: "A trial's detail (rungs, epochs, evaluation)",
    ok: { description: 'trial', schema: Anything },
  },
  // ---------------------------------------------------------------- operations
  {
    method: 'get',
    path: '/healthz',
    tag: 'operations',
    summary: 'Liveness',
    ok: { description: 'alive', schema: Anything },
  },
  {
    method: 'get',
    path: '/readyz',
    tag: 'operations',
    summary: 'Readiness: Postgres and Redis answer (503 otherwise)',
    ok: { description: 'ready', schema: Anything },
    errors: { '503': 'a dependency does not answer' },
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'operations',
    summary: 'Prometheus metrics',
    ok: { description: 'metrics', mediaType: 'text/plain' },
  },
  // ---------------------------------------------------------------- pages (HTML)
  ...(
    [
      ['/', 'Studies'],
      ['/studies', 'Studies'],
      ['/studies/:id', 'A study: live leaderboard, curves, brackets, workers'],
      ['/trials/:id', 'A trial'],
      ['/registry', 'The model registry'],
      ['/predict', 'Predictions on uploaded scans'],
    ] as const
  ).map(([path, summary]): Route => ({
    method: 'get',
    path,
    tag: 'pages',
    summary: `Dashboard page: ${summary}`,
    ok: { description: 'HTML page', mediaType: 'text/html' },
  })),
];

/** `/api/studies/:id` → `/api/studies/{id}`. */
export const openApiPath = (expressPath: string): string => expressPath.replace(/:(\w+)/g, '{$1}');

function queryParams(schema: z.ZodObject) {
  const js = z.toJSONSchema(schema, { io: 'input' }) as { properties?: Record<string, unknown> };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({
    name,
    in: 'query',
    required: false,
    schema: s,
  }));
}

function requestBody(body: NonNullable<Route['body']>, configBody: Record<string, unknown>) {
  if (body === 'study-config')
    return {
      required: true,
      content: {
        'application/json': { schema: configBody },
        'application/yaml': { schema: configBody },
        'text/plain': { schema: { type: 'string' } },
      },
    };
  if (body === 'multipart-scan')
    return {
      required: true,
      content: {
        'multipart/form-data': {
          schema: {
            type: 'object',
            required: ['image'],
            properties: {
              image: { type: 'string', contentMediaType: 'application/octet-stream' },
              model: { type: 'string', description: 'name, name@alias or name@vN' },
            },
          },
        },
      },
    };
  return { required: true, content: { 'application/json': { schema: toJson(body, 'input') } } };
}

function operation(route: Route, configBody: Record<string, unknown>) {
  const params = [...route.path.matchAll(/:(\w+)/g)].map((m) => ({
    name: m[1]!,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  const error = (description: string) => ({ description, content: json(ErrorBodySchema) });
  const ok = route.ok.schema
    ? { description: route.ok.description, content: json(route.ok.schema) }
    : {
        description: route.ok.description,
        content: { [route.ok.mediaType ?? 'application/octet-stream']: { schema: { type: 'string' } } },
      };
  return {
    summary: route.summary,
    tags: [route.tag],
    ...(params.length || route.query
      ? { parameters: [...params, ...(route.query ? queryParams(route.query) : [])] }
      : {}),
    ...(route.body ? { requestBody: requestBody(route.body, configBody) } : {}),
    ...(route.guarded ? { security: [{}, { bearer: [] }] } : {}),
    responses: {
      [String(route.ok.status ?? 200)]: ok,
      ...(route.body || params.length || route.query ? { '400': error('invalid input') } : {}),
      ...(params.length ? { '404': error('not found') } : {}),
      ...(route.guarded ? { '401': error('the API token is missing or wrong') } : {}),
      ...Object.fromEntries(Object.entries(route.errors ?? {}).map(([code, d]) => [code, error(d)])),
    },
  };
}

/** OpenAPI 3.1 document generated from the same zod schemas the routes validate with. */
export function openApiDocument(studyConfigSchema?: Schema): Record<string, unknown> {
  const configBody = studyConfigSchema
    ? (toJson(studyConfigSchema, 'input') as Record<string, unknown>)
    : { type: 'object' };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES)
    (paths[openApiPath(route.path)] ??= {})[route.method] = operation(route, configBody);
  return {
    openapi: '3.1.0',
    info: {
      title: 'braintune API',
      version: '0.1.0',
      description:
        'Distributed hyperparameter tuning: studies, trials, workers, the model registry and predictions. ' +
        'State-changing calls need `Authorization: Bearer <token>` when the server has BRAINTUNE_API_TOKEN. ' +
        'The queue inspector (bull-board) is mounted under /queues.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
