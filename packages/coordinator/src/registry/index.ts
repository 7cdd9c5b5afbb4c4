export { requireApiToken, requireApiTokenForMutations, isMutatingMethod } from './auth.js';
export { parseModelRef, formatModelRef, assertModelName, assertAlias, type ModelRef } from './model-ref.js';
export {
  RegistryService,
  registryKey,
  type VersionInfo,
  type VersionMetrics,
  type ModelInfo,
  type AliasEventInfo,
  type PromoteInput,
  type PromoteResult,
} from './service.js';
export { buildTfjsExport, tfjsZipStream } from './export-zip.js';
export { rankedTrialIds } from './promote-source.js';
export { MAX_ENSEMBLE, type EnsembleMember } from './ensemble.js';
