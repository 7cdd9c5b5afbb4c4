export {
  resolveDataPath,
  DataPathError,
  DEFAULT_DATA_PATH_LIMITS,
  type DataPathLimits,
  type DataPathOptions,
  type ResolvedDataPath,
} from './data-path.js';
export { publicPreparationError, redactAbsolutePaths } from './public-error.js';
