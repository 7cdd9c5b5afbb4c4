import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { ZodError, type z } from 'zod';
import {
  BraintuneError,
  DataPathError,
  InvalidInputError,
  apiErrorBody,
  createLogger,
  httpStatusOf,
  publicMessage,
  type ApiErrorBody,
  type DataPathOptions,
  type Logger,
} from '@braintune/protocol';
import type { Db } from '../db/client.js';
import { listStudies, listTrials, listWorkers, studySummary } from '../read-model/index.js';
import { setPageHeaders } from './paging.js';
import { asDatabaseUnavailable } from '../db/connection-monitor.js';
import { cancelStudy, submitStudy } from '../service/submit.js';
import { studyAnalysis } from '../service/analysis-query.js';
import type { StudyFactory } from '../service/study-definition.js';
import { requireApiTokenForMutations } from '../registry/auth.js';
import { openApiDocument } from './openapi.js';
import { crossSiteGuard, requireStudyContentType } from './access/cross-site.js';
import {
  ListStudiesQuerySchema,
  PageQuerySchema,
  StudyIdParamsSchema,
  TrialsQuerySchema,
} from './schemas.js';

export interface ApiDeps {
  db: Db;
  studies: StudyFactory;
  /** The study config's zod schema, for the OpenAPI document. */
  studyConfigSchema?: z.ZodType;
  logger?: Logger;
  /** When set, every mutating request needs `Authorization: Bearer <token>` (401 otherwise); default: BRAINTUNE_API_TOKEN. */
  apiToken?: string | undefined;
  /** Data roots submissions are checked against (default: BRAINTUNE_DATA_ROOTS, read per request). */
  dataPaths?: DataPathOptions;
}

/** Config errors list one `<path>: <problem>` line per field; the API returns them as issues. */
function issuesOf(err: BraintuneError): ApiErrorBody['issues'] {
  const problems = (err as BraintuneError & { problems?: unknown }).problems;
  if (!Array.isArray(problems)) return undefined;
  return problems.map((p) => {
    const line = String(p);
    const colon = line.indexOf(': ');
    return colon > 0
      ? { path: line.slice(0, colon), message: line.slice(colon + 2) }
      : { path: '(root)', message: line };
  });
}

/** An ApiErrorBody with the status its code implies; anything unexpected is a 500 without internals. */
export function sendError(res: Response, failure: unknown, log?: Logger): void {
  const err = asDatabaseUnavailable(failure);
  if (err instanceof ZodError) {
    const issues = err.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message }));
    res
      .status(400)
      .json(apiErrorBody('invalid_input', 'invalid request', 'fix the fields listed in issues', issues));
    return;
  }
  if (err instanceof BraintuneError) {
    res.status(httpStatusOf(err.code)).json(
      // A refused data path names the roots as the operator configured them, on purpose.
      err instanceof DataPathError
        ? apiErrorBody(err.code, err.message, err.hint)
        : apiErrorBody(err.code, publicMessage(err.message), publicMessage(err.hint), issuesOf(err)),
    );
    return;
  }
  log?.error({ err }, 'unhandled API error');
  res.status(500).json(apiErrorBody('internal', 'internal error', 'see the server log'));
}

/** A study config from the request: YAML or JSON text, or an object already parsed by express.json(). */
function configFromBody(body: unknown): string | object {
  if (typeof body === 'string') {
    if (body.trim() === '')
      throw new InvalidInputError('empty request body', 'send the study config as YAML or JSON');
    return body; // YAML is a superset of JSON: the config parser reports syntax errors with their line
  }
  if (body && typeof body === 'object' && !Buffer.isBuffer(body) && Object.keys(body).length > 0) return body;
  throw new InvalidInputError(
    'missing study config',
    'POST the config as application/yaml or application/json',
  );
}

/**
 * The REST API under `/api` (mount with `app.use(createApiRouter(deps))`). It only needs
 * Postgres: submissions and cancellations are stored and the coordinator acts on them.
 */
export function createApiRouter(deps: ApiDeps): Router {
  const log = deps.logger ?? createLogger('api');
  const router = express.Router();
  // A web page the user visits must not submit, cancel or promote through their browser.
  router.use('/api', crossSiteGuard());
  // Submit and cancel (every non-GET under /api) need the token when one is configured.
  router.use(
    '/api',
    requireApiTokenForMutations(
      'apiToken' in deps ? deps.apiToken : process.env.BRAINTUNE_API_TOKEN || undefined,
    ),
  );
  const wrap =
    (fn: (req: Request, res: Response) => Promise<void>) =>
    (req: Request, res: Response, next: NextFunction): void => {
      fn(req, res).catch((err: unknown) => (res.headersSent ? next(err) : sendError(res, err, log)));
    };

  const text = express.text({ type: () => true, limit: '1mb' });

  router.post(
    '/api/studies',
    requireStudyContentType(),
    text,
    wrap(async (req, res) => {
      const config = configFromBody(req.body);
      const submitted = await submitStudy(deps.db, deps.studies, config, deps.dataPaths);
      const { studyId } = submitted;
      log.info({ studyId }, 'study submitted');
      if (submitted.warning) log.warn({ studyId }, submitted.warning);
      res
        .status(201)
        .location(`/api/studies/${studyId}`)
        .json({ ...submitted, state: 'queued' });
    }),
  );

  router.get(
    '/api/studies',
    wrap(async (req, res) => {
      const page = ListStudiesQuerySchema.parse(req.query);
      const { rows, total } = await listStudies(deps.db, page);
      setPageHeaders(req, res, page, rows.length, total);
      res.json(rows);
    }),
  );

  router.get(
    '/api/studies/:id',
    wrap(async (req, res) => {
      const { id } = StudyIdParamsSchema.parse(req.params);
      res.json(await studySummary(deps.db, id));
    }),
  );

  router.get(
    '/api/studies/:id/analysis',
    wrap(async (req, res) => {
      const { id } = StudyIdParamsSchema.parse(req.params);
      res.json(await studyAnalysis(deps.db, id));
    }),
  );

  router.get(
    '/api/studies/:id/trials',
    wrap(async (req, res) => {
      const { id } = StudyIdParamsSchema.parse(req.params);
      const { sort, ...page } = TrialsQuerySchema.parse(req.query);
      const { rows, total } = await listTrials(deps.db, id, sort, page);
      setPageHeaders(req, res, page, rows.length, total);
      res.json(rows);
    }),
  );

  router.post(
    '/api/studies/:id/cancel',
    wrap(async (req, res) => {
      const { id } = StudyIdParamsSchema.parse(req.params);
      await cancelStudy(deps.db, id);
      log.info({ studyId: id }, 'study cancelled');
      res.json(await studySummary(deps.db, id));
    }),
  );

  router.get(
    '/api/workers',
    wrap(async (req, res) => {
      const page = PageQuerySchema.parse(req.query);
      const { rows, total } = await listWorkers(deps.db, undefined, page);
      setPageHeaders(req, res, page, rows.length, total);
      res.json(rows);
    }),
  );

  const openapi = openApiDocument(deps.studyConfigSchema);
  router.get('/api/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  return router;
}
