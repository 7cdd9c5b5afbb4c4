import { z } from 'zod';
import {
  ErrorBodySchema,
  ListStudiesQuerySchema,
  StudySummarySchema,
  SubmitResponseSchema,
  TrialRowSchema,
  TrialsQuerySchema,
  WorkerRowSchema,
} from './schemas.js';
import { StudyAnalysisSchema } from '../study/analysis.js';

type Schema = z.ZodType;

const json = (schema: Schema) => ({
  'application/json': { schema: z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) },
});
const errors = {
  '400': { description: 'invalid input', content: json(ErrorBodySchema) },
  '404': { description: 'not found', content: json(ErrorBodySchema) },
};
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

function queryParams(schema: z.ZodObject) {
  const js = z.toJSONSchema(schema, { io: 'input' }) as { properties?: Record<string, unknown> };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({
    name,
    in: 'query',
    required: false,
    schema: s,
  }));
}

/** OpenAPI 3.1 document generated from the same zod schemas the routes validate with. */
export function openApiDocument(studyConfigSchema?: Schema): Record<string, unknown> {
  const configBody = studyConfigSchema
    ? z.toJSONSchema(studyConfigSchema, { io: 'input', unrepresentable: 'any' })
    : { type: 'object' };
  return {
    openapi: '3.1.0',
    info: {
      title: 'braintune API',
      version: '0.1.0',
      description: 'Distributed hyperparameter tuning: studies, trials, workers.',
    },
    paths: {
      '/api/studies': {
        post: {
          summary: 'Submit a study (YAML or JSON body)',
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: configBody },
              'application/yaml': { schema: configBody },
              'text/plain': { schema: { type: 'string' } },
            },
          },
          responses: { '201': { description: 'accepted', content: json(SubmitResponseSchema) }, ...errors },
        },
        get: {
          summary: 'List studies, newest first',
          parameters: queryParams(ListStudiesQuerySchema),
          responses: { '200': { description: 'studies', content: json(z.array(StudySummarySchema)) } },
        },
      },
      '/api/studies/{id}': {
        get: {
          summary: 'One study with progress and best trial',
          parameters: [idParam],
          responses: { '200': { description: 'study', content: json(StudySummarySchema) }, ...errors },
        },
      },
      '/api/studies/{id}/analysis': {
        get: {
          summary:
            'Hyperparameter importance (PED-ANOVA), parallel-coordinate and slice data, optimisation history (bounded to 2,000 points)',
          parameters: [idParam],
          responses: { '200': { description: 'analysis', content: json(StudyAnalysisSchema) }, ...errors },
        },
      },
      '/api/studies/{id}/trials': {
        get: {
          summary: "A study's trials (sort=objective ranks constraint-meeting trials first)",
          parameters: [idParam, ...queryParams(TrialsQuerySchema)],
          responses: { '200': { description: 'trials', content: json(z.array(TrialRowSchema)) }, ...errors },
        },
      },
      '/api/studies/{id}/cancel': {
        post: {
          summary: 'Cancel a study: waiting rungs are removed, running ones stop after their epoch',
          parameters: [idParam],
          responses: {
            '200': { description: 'cancelled', content: json(StudySummarySchema) },
            '409': { description: 'already finished', content: json(ErrorBodySchema) },
            ...errors,
          },
        },
      },
      '/api/workers': {
        get: {
          summary: 'Workers seen by the coordinator',
          responses: { '200': { description: 'workers', content: json(z.array(WorkerRowSchema)) } },
        },
      },
    },
  };
}
