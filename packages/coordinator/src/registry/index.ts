export { requireApiToken, requireApiTokenForMutations, isMutatingMethod } from './auth.js';
export { parseModelRef, formatModelRef, assertModelName, assertAlias, type ModelRef } from './model-ref.js';
export {
  RegistryService,
  registryKey,
  type VersionMetrics,
  type PromoteInput,
  type PromoteResult,
} from './service.js';
export type { VersionInfo, ModelInfo, AliasEventInfo } from './catalog.js';
export { buildTfjsExport, tfjsZipStream } from './export-zip.js';
export { rankedTrialIds } from './promote-source.js';
export { MAX_ENSEMBLE, type EnsembleMember } from './ensemble.js';
