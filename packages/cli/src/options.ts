import { InvalidInputError } from '@braintune/protocol';

/**
 * Parses an integer command-line option (commander hands over strings), rejecting fractions,
 * words and values below `min` with an InvalidInputError that shows a valid example.
 */
export function integerOption(flag: string, raw: string, min: number, example: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    const expected = min === 1 ? 'a positive integer' : `an integer ≥ ${min}`;
    throw new InvalidInputError(`${flag} must be ${expected}, got "${raw}"`, `e.g. ${flag} ${example}`);
  }
  return value;
}
