/**
 * The study `up --demo --demo-config` runs in the demo tests (with and without a terminal):
 * Hyperband (maxEpochs 3, factor 3) on 24 px phantoms. Bracket 1 = 3 trials × 1 epoch, then 1 of
 * them 1 → 3; bracket 0 = 2 trials × 3 epochs: 5 trials, 6 rungs, 3 + 2 + 6 = 11 epochs.
 */
export const tinyDemoStudy = (name: string): string => `
name: ${name}
dataset: {path: set-by-the-demo, imageSize: 24, valFraction: 0.25, seed: 1}
searchSpace:
  convBlocks: 2
  baseFilters: {type: choice, values: [4, 8]}
  pooling: gap
  denseUnits: 8
  dense2Units: 0
  learningRate: {type: float, min: 1.0e-3, max: 1.0e-2, sampling: log}
scheduler: {type: hyperband, maxEpochs: 3, factor: 3}
seed: 3
`;
