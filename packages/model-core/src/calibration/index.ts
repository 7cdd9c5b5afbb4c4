export { applyTemperature, fitTemperature, temperatureNll } from './temperature.js';
export { expectedCalibrationError, topLabel, ECE_BINS } from './ece.js';
export {
  chooseOperatingPoint,
  DEFAULT_MAX_REFERRAL,
  DEFAULT_TARGET_ERROR,
  type OperatingPointOptions,
} from './operating-point.js';
export { calibrate, calibrateProbabilities } from './calibrate.js';
