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
