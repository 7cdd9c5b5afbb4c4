/**
 * KerasTuner's Hyperband bracket maths (keras_tuner/tuners/hyperband.py, HyperbandOracle), in one
 * place. Each function mirrors the oracle method of the same name, including its floating-point
 * arithmetic, so trial counts and epochs match KerasTuner for every (maxEpochs, factor).
 */

/** `math.log(x, base)`, exact for integer powers (JS's Math.log(9)/Math.log(3) is 2.0000000000000004, Python's is 2.0). */
function logBase(x: number, base: number): number {
  let power = 1;
  let exponent = 0;
  while (power < x) {
    power *= base;
    exponent++;
  }
  return power === x ? exponent : Math.log(x) / Math.log(base);
}

/** `_get_num_brackets`: how many times maxEpochs can be divided by factor while staying ≥ min_epochs (1). */
export function hyperbandNumBrackets(maxEpochs: number, factor: number): number {
  let epochs = maxEpochs;
  let brackets = 0;
  while (epochs >= 1) {
    epochs = epochs / factor;
    brackets++;
  }
  return brackets;
}

/** `_get_num_rounds`: bracket 0 is plain random search; bracket b halves b times. */
export function hyperbandNumRounds(bracket: number): number {
  return bracket + 1;
}

/** `_get_size`: trials in a round, set up so every bracket costs about the same. */
export function hyperbandSize(maxEpochs: number, factor: number, bracket: number, round: number): number {
  const bracket0EndSize = Math.ceil(1 + logBase(maxEpochs, factor));
  const bracketEndSize = bracket0EndSize / (bracket + 1);
  return Math.ceil(bracketEndSize * factor ** (bracket - round));
}

/** `_get_epochs`: cumulative epochs a trial has trained at the end of a round. */
export function hyperbandEpochs(maxEpochs: number, factor: number, bracket: number, round: number): number {
  return Math.ceil(maxEpochs / factor ** (bracket - round));
}

export interface HyperbandRound {
  round: number;
  /** Trials trained in this round (round 0: new configurations; later: promoted ones). */
  trials: number;
  /** Warm start: epochs already trained (the previous round's `toEpoch`, 0 for round 0). */
  fromEpoch: number;
  /** Cumulative epochs at the end of the round (KerasTuner's `tuner/epochs`). */
  toEpoch: number;
}

export interface HyperbandBracket {
  bracket: number;
  rounds: HyperbandRound[];
}

export interface HyperbandPlan {
  /** In the order they run: the most aggressive bracket first, down to bracket 0. */
  brackets: HyperbandBracket[];
  iterations: number;
  /** Distinct configurations over all iterations. */
  trials: number;
  /** Trial rungs (jobs) over all iterations. */
  rungs: number;
  /** Epochs trained over all iterations, counting warm starts once. */
  epochs: number;
}

export function hyperbandBrackets(maxEpochs: number, factor: number): HyperbandBracket[] {
  const brackets: HyperbandBracket[] = [];
  for (let bracket = hyperbandNumBrackets(maxEpochs, factor) - 1; bracket >= 0; bracket--) {
    const rounds: HyperbandRound[] = [];
    for (let round = 0; round < hyperbandNumRounds(bracket); round++) {
      rounds.push({
        round,
        trials: hyperbandSize(maxEpochs, factor, bracket, round),
        fromEpoch: round === 0 ? 0 : hyperbandEpochs(maxEpochs, factor, bracket, round - 1),
        toEpoch: hyperbandEpochs(maxEpochs, factor, bracket, round),
      });
    }
    brackets.push({ bracket, rounds });
  }
  return brackets;
}

export function hyperbandPlan(maxEpochs: number, factor: number, iterations = 1): HyperbandPlan {
  const brackets = hyperbandBrackets(maxEpochs, factor);
  let trials = 0;
  let rungs = 0;
  let epochs = 0;
  for (const { rounds } of brackets) {
    trials += rounds[0]!.trials;
    for (const round of rounds) {
      rungs += round.trials;
      epochs += round.trials * (round.toEpoch - round.fromEpoch);
    }
  }
  return {
    brackets,
    iterations,
    trials: trials * iterations,
    rungs: rungs * iterations,
    epochs: epochs * iterations,
  };
}
