import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import { sql } from 'drizzle-orm';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { ZodError, z } from 'zod';
import type { ArtifactStore } from '@braintune/artifacts';
import {
  AliasRequestSchema,
  LeaderboardQuerySchema,
  ListStudiesQuerySchema,
  PageQuerySchema,
  PromoteRequestSchema,
  RegistryService,
  asDatabaseUnavailable,
  crossSiteGuard,
  requireApiToken,
  requireApiTokenForMutations,
  listStudyOverviews,
  setPageHeaders,
  studyAnalysis,
  studySnapshot,
  tfjsZipStream,
  type Db,
} from '@braintune/coordinator';
import {
  BraintuneError,
  apiErrorBody,
  httpStatusOf,
  CamMethodSchema,
  ExplainOptionsSchema,
  InvalidInputError,
  PREPARE_QUEUE,
  TRIAL_QUEUE,
  closeQueue,
  createLogger,
  publicMessage,
  type Logger,
} from '@braintune/protocol';
import { StudyEventHub } from './events.js';
import { createMetricsRegistry } from './metrics.js';
import { RegistryPredictor } from './predictor.js';
import { liveStreamHandler } from './live-stream.js';
import { trialPage } from './trial-page.js';
import { HttpError, checkScan, scanUpload } from './uploads.js';

export interface DashboardDeps {
  db: Db;
  /** For the LISTEN connection that feeds live updates (default: a connection of `db`'s pool). */
  databaseUrl?: string;
  /** Redis of the BullMQ queues (readiness, Bull Board, queue metrics); null disables those. */
  redis: Redis | null;
  /** BullMQ key prefix of the trial queue. */
  prefix: string;
  /** The artifact store (checkpoints, registry); `store` is accepted as well (what `braintune up` passes). */
  artifacts?: ArtifactStore;
  store?: ArtifactStore;
  /** The trial queue, when the caller has one open already (else one is opened on `redis`). */
  trialQueue?: Queue;
  /** When set, mutating endpoints need `Authorization: Bearer <token>`; default: BRAINTUNE_API_TOKEN. */
  apiToken?: string | undefined;
  logger?: Logger;
}

export type DashboardRouter = Router & {
  registry: RegistryService;
  /** Stops the live-update listener, closes queue handles and frees loaded models. */
  close(): Promise<void>;
};

const PUBLIC_DIR = fileURLToPath(new URL('../public', import.meta.url));
const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot'));

// The request shapes live with the OpenAPI document's other schemas (coordinator/api/schemas.ts).
const PromoteBody = PromoteRequestSchema;
const AliasBody = AliasRequestSchema;
/** Multipart fields of /api/predict besides the image: "tta" true/1/on (a checkbox) turns flip TTA on. */
const PredictFields = z.object({
  model: z.string().min(1).optional(),
  tta: z
    .enum(['true', 'false', '1', '0', 'on', 'off'])
    .optional()
    .transform((v) => v === 'true' || v === '1' || v === 'on'),
});

/** Who did it, for the registry history: the caller may name itself, else the channel. */
function actor(req: Request): string {
  const named = req.get('x-braintune-user')?.trim();
  return named && named.length <= 100 ? named : 'dashboard';
}

export function createDashboardRouter(deps: DashboardDeps): DashboardRouter {
  const logger = deps.logger ?? createLogger('dashboard');
  const artifacts = deps.artifacts ?? deps.store;
  if (!artifacts) throw new Error('createDashboardRouter needs the artifact store (deps.artifacts)');
  const apiToken = 'apiToken' in deps ? deps.apiToken : process.env.BRAINTUNE_API_TOKEN || undefined;
  const router = express.Router() as DashboardRouter;
  const registry = new RegistryService(deps.db, artifacts, logger);
  const predictor = new RegistryPredictor(registry, logger);
  const hub = new StudyEventHub(deps.databaseUrl ?? poolOf(deps.db), deps.db, logger);
  let hubStarted: Promise<void> | null = null;
  const ownQueue =
    !deps.trialQueue && deps.redis
      ? new Queue(TRIAL_QUEUE, { connection: deps.redis, prefix: deps.prefix })
      : null;
  const trialQueue = deps.trialQueue ?? ownQueue;
  // Bull Board also shows the data-set preparations (worker events are streams: /metrics counts them).
  const sideQueues = deps.redis
    ? [new Queue(PREPARE_QUEUE, { connection: deps.redis, prefix: deps.prefix })]
    : [];
  const metrics = createMetricsRegistry({
    db: deps.db,
    trialQueue,
    results: deps.redis ? { redis: deps.redis, prefix: deps.prefix } : null,
    logger,
  });
  const guard = requireApiToken(apiToken);
  const json = express.json({ limit: '1mb' });

  router.registry = registry;
  router.close = async () => {
    await hub.stop();
    predictor.dispose();
    for (const queue of [...(ownQueue ? [ownQueue] : []), ...sideQueues]) await closeQueue(queue);
  };

  // A page on another site must not promote, move aliases or drive Bull Board through a browser.
  router.use(['/api', '/queues'], crossSiteGuard());

  // ------------------------------------------------------------ pages and assets
  router.use('/static', express.static(PUBLIC_DIR, { index: false, maxAge: '1m' }));
  router.use('/vendor/uplot', express.static(UPLOT_DIR, { index: false, maxAge: '1h' }));
  const page = (name: string) => (_req: Request, res: Response) =>
    res.sendFile(join(PUBLIC_DIR, `${name}.html`));
  router.get('/', page('studies'));
  router.get('/studies', page('studies'));
  router.get('/studies/:id', page('study'));
  router.get('/trials/:id', page('trial'));
  router.get('/registry', page('registry'));
  router.get('/predict', page('predict'));

  // ------------------------------------------------------------ health and metrics
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const check = async (name: string, fn: () => Promise<unknown>) => {
      const timeout = new Promise((_, reject) =>
        setTimeout(() => reject(new Error('timed out after 2s')), 2000).unref(),
      );
      try {
        await Promise.race([fn(), timeout]);
        return [name, 'ok'] as const;
      } catch (err) {
        return [name, (err as Error).message || 'unreachable'] as const;
      }
    };
    const results = await Promise.all([
      check('postgres', () => deps.db.execute(sql`SELECT 1`)),
      check('redis', async () => {
        if (!deps.redis) throw new Error('not configured');
        if ((await deps.redis.ping()) !== 'PONG') throw new Error('no PONG');
      }),
    ]);
    const ready = results.every(([, r]) => r === 'ok');
    res
      .status(ready ? 200 : 503)
      .json({ status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(results) });
  });
  router.get('/metrics', async (_req, res, next) => {
    try {
      res.set('Content-Type', metrics.contentType).send(await metrics.metrics());
    } catch (err) {
      next(err);
    }
  });

  // ------------------------------------------------------------ Bull Board
  if (trialQueue) {
    const serverAdapter = new ExpressAdapter();
    serverAdapter.setBasePath('/queues');
    createBullBoard({
      queues: [trialQueue, ...sideQueues].map(
        (queue) => new BullMQAdapter(queue, { readOnlyMode: Boolean(apiToken) }),
      ),
      // @bull-board/express bundles its own copy of @bull-board/api: same shape, distinct type.
      serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
      options: { uiConfig: { boardTitle: 'braintune queues' } },
    });
    router.use('/queues', requireApiTokenForMutations(apiToken), serverAdapter.getRouter() as express.Router);
  }

  // ------------------------------------------------------------ page data
  router.get('/api/ui/studies', async (req, res) => {
    const page = ListStudiesQuerySchema.parse(req.query);
    const { rows, total } = await listStudyOverviews(deps.db, page);
    setPageHeaders(req, res, page, rows.length, total);
    res.json({ studies: rows });
  });
  router.get('/api/ui/studies/:id', async (req, res) => {
    const page = LeaderboardQuerySchema.parse(req.query);
    const snapshot = await studySnapshot(deps.db, req.params.id, page);
    setPageHeaders(req, res, page, snapshot.rows.length, snapshot.page.total);
    res.json(snapshot);
  });
  router.get('/api/ui/studies/:id/analysis', async (req, res) => {
    res.json(await studyAnalysis(deps.db, req.params.id));
  });
  router.get('/api/ui/trials/:id', async (req, res) => {
    res.json(await trialPage(deps.db, req.params.id));
  });
  /** Live leaderboard: a snapshot, then numbered deltas on every recorded event (Postgres NOTIFY). */
  router.get(
    '/api/studies/:id/events',
    liveStreamHandler(hub, () => (hubStarted ??= hub.start())),
  );

  // ------------------------------------------------------------ registry
  router.get('/api/models', async (req, res) => {
    const page = PageQuerySchema.parse(req.query);
    const { models, total } = await registry.listModels(page);
    setPageHeaders(req, res, page, models.length, total);
    res.json({ models });
  });
  router.get('/api/models/:name', async (req, res) => {
    res.json(await registry.getModel(req.params.name));
  });
  router.post('/api/models/promote', guard, json, async (req, res) => {
    const body = PromoteBody.parse(req.body ?? {});
    res.status(201).json(await registry.promote({ ...body, by: actor(req) }));
  });
  router.put('/api/models/:name/aliases/:alias', guard, json, async (req, res) => {
    const { version } = AliasBody.parse(req.body ?? {});
    res.json(await registry.setAlias(String(req.params.name), String(req.params.alias), version, actor(req)));
  });
  router.post('/api/models/:name/aliases/:alias/rollback', guard, async (req, res) => {
    res.json(await registry.rollbackAlias(String(req.params.name), String(req.params.alias), actor(req)));
  });
  router.get('/api/models/:name/versions/:version/download', async (req, res) => {
    const version = await registry.resolve(`${req.params.name}@v${Number(req.params.version)}`);
    const stream = await tfjsZipStream(version, await registry.versionDir(version));
    res.set('Content-Type', 'application/zip');
    res.set('Content-Disposition', `attachment; filename="${version.model}-v${version.version}-tfjs.zip"`);
    stream.pipe(res);
  });

  // ------------------------------------------------------------ predictions
  router.post('/api/predict', guard, scanUpload(), async (req, res) => {
    const scan = await checkScan(req.file);
    const fields = PredictFields.parse({ model: req.body?.model, tta: req.body?.tta });
    const ref = fields.model ?? (await defaultModelRef(registry));
    // Optional multipart fields `explain` (gradcam | gradcam++ | layercam) and `layer` (last | fine | a name).
    const explain = ExplainOptionsSchema.safeParse({ method: req.body?.explain, layer: req.body?.layer });
    if (!explain.success)
      throw new InvalidInputError(
        `bad explanation options: ${explain.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        `explain is one of ${CamMethodSchema.options.join(', ')}; layer is last, fine or a layer name`,
      );
    res.json(await predictor.predict(ref, scan, { tta: fields.tta, explain: explain.data }));
  });

  router.use('/api', (err: unknown, _req: Request, res: Response, next: NextFunction) =>
    sendError(err, res, next, logger),
  );
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) =>
    sendError(err, res, next, logger),
  );
  return router;
}

/** The pg pool behind a drizzle database (drizzle keeps it as `$client`). */
function poolOf(db: Db): pg.Pool {
  const client = (db as Db & { $client?: unknown }).$client;
  if (client instanceof pg.Pool) return client;
  throw new Error('the dashboard needs deps.databaseUrl, or a drizzle database built on a pg.Pool');
}

/** The production version of the only model, when a caller names none. */
async function defaultModelRef(registry: RegistryService): Promise<string> {
  const { models, total } = await registry.listModels({ limit: 1, offset: 0 });
  if (total === 1)
    return `${models[0]!.name}@${'production' in models[0]!.aliases ? 'production' : `v${models[0]!.versions[0]?.version ?? 1}`}`;
  throw new HttpError(
    400,
    total === 0 ? 'the registry has no model yet' : 'name the model version in the field "model"',
    total === 0 ? 'promote a trial first' : `e.g. model=${models[0]!.name}@production`,
  );
}

function sendError(failure: unknown, res: Response, next: NextFunction, logger: Logger): void {
  if (res.headersSent) return next(failure);
  const err = asDatabaseUnavailable(failure);
  if (err instanceof HttpError) {
    const code = err.status === 413 ? 'too_large' : err.status === 429 ? 'too_many' : 'bad_request';
    res.status(err.status).json(apiErrorBody(code, err.message, err.hint));
  } else if (err instanceof ZodError) {
    const issues = err.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const message = err.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    res.status(400).json(apiErrorBody('invalid_input', message, undefined, issues));
  } else if (err instanceof BraintuneError) {
    res
      .status(httpStatusOf(err.code))
      .json(apiErrorBody(err.code, publicMessage(err.message), publicMessage(err.hint)));
  } else if ((err as { type?: string }).type === 'entity.parse.failed') {
    res.status(400).json(apiErrorBody('invalid_input', 'the request body is not valid JSON'));
  } else if ((err as { type?: string }).type === 'entity.too.large') {
    res.status(413).json(apiErrorBody('too_large', 'the request body is too large'));
  } else {
    logger.error({ err }, 'request failed');
    // The log has the details; the client learns nothing about the host.
    res.status(500).json(apiErrorBody('internal', 'internal error', 'see the server log'));
  }
}
