import { z } from 'zod';

/**
 * The body of every error answer of the HTTP API (coordinator routes, dashboard routes, the
 * token and cross-site guards): a machine-readable code, a sentence for people, what to do
 * about it, and the fields at fault when a request was invalid.
 */
export const ApiErrorBodySchema = z.object({
  /** invalid_input, not_found, conflict, unauthorized, forbidden, too_large, unavailable, internal, … */
  error: z.string(),
  message: z.string(),
  hint: z.string().optional(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ApiErrorBody = z.infer<typeof ApiErrorBodySchema>;

export function apiErrorBody(
  code: string,
  message: string,
  hint?: string,
  issues?: ApiErrorBody['issues'],
): ApiErrorBody {
  return { error: code, message, ...(hint ? { hint } : {}), ...(issues ? { issues } : {}) };
}

const STATUS_BY_CODE: Record<string, number> = {
  invalid_input: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
};

/** The HTTP status of a BraintuneError's code (500 for codes that are not the client's doing). */
export function httpStatusOf(code: string): number {
  return STATUS_BY_CODE[code] ?? 500;
}
