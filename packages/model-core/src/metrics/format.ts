import type { ClassificationReport, ClassMetrics } from '@braintune/protocol';

const HEADERS = ['precision', 'recall', 'f1-score', 'support'];
const LAST_HEADING = 'weighted avg';

/**
 * The text of scikit-learn's `classification_report(..., digits)` (the seed's table layout):
 * a header row, one row per class, a blank line, then accuracy, macro avg and weighted avg.
 * Numbers are rounded like Python's format (exact value, ties to even), so the text matches sklearn's.
 */
export function formatClassificationReport(report: ClassificationReport, digits = 2): string {
  const width = Math.max(LAST_HEADING.length, ...report.classes.map((c) => c.length));
  const cell = (s: string): string => ` ${s.padStart(9)}`;
  const row = (heading: string, m: ClassMetrics): string =>
    heading.padStart(width) +
    ' ' +
    [m.precision, m.recall, m.f1].map((v) => cell(formatFixed(v, digits))).join('') +
    cell(String(m.support)) +
    '\n';

  let text = ''.padStart(width) + ' ' + HEADERS.map(cell).join('') + '\n\n';
  for (const name of report.classes) {
    const metrics = report.perClass[name];
    if (metrics) text += row(name, metrics);
  }
  text += '\n';
  text +=
    'accuracy'.padStart(width) +
    ' ' +
    cell('') +
    cell('') +
    cell(formatFixed(report.accuracy, digits)) +
    cell(String(report.macroAvg.support)) +
    '\n';
  text += row('macro avg', report.macroAvg);
  text += row(LAST_HEADING, report.weightedAvg);
  return text;
}

/**
 * Python's `format(value, '.{digits}f')`: rounds the exact binary value, ties to even.
 * (JavaScript's toFixed breaks exact ties upwards: (0.125).toFixed(2) is "0.13", Python gives "0.12".)
 */
export function formatFixed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return String(value);
  const exact = Math.abs(value).toFixed(100); // exact decimal expansion of the double (enough digits for metrics)
  const [intPart = '0', fracPart = ''] = exact.split('.');
  const kept = intPart + fracPart.slice(0, digits);
  const rest = fracPart.slice(digits);
  const firstDropped = rest.charCodeAt(0) - 48;
  const beyondHalf = /[1-9]/.test(rest.slice(1));
  const lastKept = kept.charCodeAt(kept.length - 1) - 48;
  const roundUp = firstDropped > 5 || (firstDropped === 5 && (beyondHalf || lastKept % 2 === 1));
  let digitsOut = roundUp ? incrementDecimalString(kept) : kept;
  digitsOut = digitsOut.padStart(digits + 1, '0');
  const whole = digitsOut.slice(0, digitsOut.length - digits).replace(/^0+(?=\d)/, '');
  const frac = digitsOut.slice(digitsOut.length - digits);
  const negative = value < 0 || Object.is(value, -0); // Python keeps the sign: format(-0.001, '.2f') == '-0.00'
  return (negative ? '-' : '') + whole + (digits > 0 ? `.${frac}` : '');
}

function incrementDecimalString(s: string): string {
  const chars = s.split('');
  for (let i = chars.length - 1; i >= 0; i--) {
    if (chars[i] === '9') {
      chars[i] = '0';
    } else {
      chars[i] = String.fromCharCode((chars[i] as string).charCodeAt(0) + 1);
      return chars.join('');
    }
  }
  return '1' + chars.join('');
}
