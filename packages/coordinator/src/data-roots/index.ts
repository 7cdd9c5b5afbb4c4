export {
  resolveDataPath,
  DataPathError,
  DEFAULT_DATA_PATH_LIMITS,
  type DataPathLimits,
  type DataPathOptions,
  type ResolvedDataPath,
} from './data-path.js';
export {
  publicMessage,
  publicPreparationError,
  redactAbsolutePaths,
  redactConnectionStrings,
} from './public-error.js';
