import type { z } from 'zod';
import type { AliasEventInfo, ModelInfo, VersionInfo } from '../registry/catalog.js';
import type { PromoteResult, VersionMetrics } from '../registry/service.js';
import type {
  AliasEventInfoSchema,
  ModelInfoSchema,
  PromoteResultSchema,
  SameShape,
  VersionInfoSchema,
  VersionMetricsSchema,
} from './schemas.js';

// The registry keeps its own interfaces; these fail `tsc` as soon as they drift from the
// response schemas the CLI parses with.
export type RegistrySchemasMatch = [
  SameShape<z.infer<typeof VersionMetricsSchema>, VersionMetrics>,
  SameShape<z.infer<typeof VersionInfoSchema>, VersionInfo>,
  SameShape<z.infer<typeof AliasEventInfoSchema>, AliasEventInfo>,
  SameShape<z.infer<typeof ModelInfoSchema>, ModelInfo>,
  SameShape<z.infer<typeof PromoteResultSchema>, PromoteResult>,
] extends true[]
  ? true
  : never;
const registrySchemasMatch: RegistrySchemasMatch = true;
void registrySchemasMatch;
