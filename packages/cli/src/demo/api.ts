import { z } from 'zod';
import { BraintuneError } from '@braintune/protocol';
import {
  StudySummarySchema,
  SubmitResponseSchema,
  TrialRowSchema,
  WorkerRowSchema,
} from '@braintune/coordinator';
import type { Snapshot } from '../live/status-board.js';

export type StudySummaryBody = z.infer<typeof StudySummarySchema>;

/** The few REST calls the demo makes, against the cluster it just started (not BRAINTUNE_URL). */
export class DemoApi {
  constructor(private readonly baseUrl: string) {}

  async submit(study: object): Promise<z.infer<typeof SubmitResponseSchema>> {
    return SubmitResponseSchema.parse(await this.call('POST', '/api/studies', study));
  }

  async summary(studyId: string): Promise<StudySummaryBody> {
    return StudySummarySchema.parse(await this.call('GET', `/api/studies/${encodeURIComponent(studyId)}`));
  }

  /** The study, its trials best first and the workers: what the live status shows. */
  async snapshot(studyId: string): Promise<Snapshot> {
    const id = encodeURIComponent(studyId);
    const [summary, trials, workers] = await Promise.all([
      this.summary(studyId),
      this.call('GET', `/api/studies/${id}/trials?sort=objective`),
      this.call('GET', '/api/workers'),
    ]);
    return {
      summary,
      trials: z.array(TrialRowSchema).parse(trials),
      workers: z.array(WorkerRowSchema).parse(workers),
    };
  }

  private async call(method: 'GET' | 'POST', path: string, body?: object): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body) headers['content-type'] = 'application/json';
    const token = process.env.BRAINTUNE_API_TOKEN;
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(new URL(path, this.baseUrl), {
      method,
      headers,
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json: unknown = await res.json().catch(() => null);
    if (!res.ok) {
      const e = z.object({ error: z.string().optional(), hint: z.string().optional() }).safeParse(json);
      throw new BraintuneError(
        `demo: ${method} ${path} failed: ${e.success && e.data.error ? e.data.error : `HTTP ${res.status}`}`,
        'api_error',
        e.success ? e.data.hint : undefined,
      );
    }
    return json;
  }
}
