export { confusionMatrix, assertConfusionMatrix, type ConfusionMatrix } from './confusion.js';
export { classificationReport, classificationReportFromLabels, macroF1 } from './report.js';
export { formatClassificationReport, formatFixed } from './format.js';
export { mapTestClasses, scoreFromPredictions, type TestSetEvaluation } from './test-score.js';
