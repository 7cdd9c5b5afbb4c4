import { predictWithModel } from './client.js';

/**
 * `braintune predict IMAGE… --model NAME[@ALIAS]`: the registry form of predict, called from
 * commands/predict.ts. Same table as the checkpoint form; with --json the last line is
 * `{model, version, classes, predictions: [{image, predicted, probabilities}]}`.
 */
export async function runRegistryPredict(
  images: string[],
  model: string,
  options: { json?: boolean | undefined } = {},
): Promise<void> {
  const results = [];
  for (const image of images) results.push({ image, r: await predictWithModel(image, model) });
  const first = results[0]!.r;
  const classes = first.classes;
  const width = Math.max(5, ...images.map((i) => i.length));
  console.log(`${first.model} v${first.version}${first.alias ? ` (${first.alias})` : ''}`);
  console.log(
    `${'image'.padEnd(width)}  ${'predicted'.padEnd(18)}${classes.map((c) => c.padStart(Math.max(10, c.length + 2))).join('')}`,
  );
  for (const { image, r } of results) {
    console.log(
      `${image.padEnd(width)}  ${r.predicted.padEnd(18)}${r.probabilities.map((v, j) => v.toFixed(4).padStart(Math.max(10, (classes[j] ?? '').length + 2))).join('')}`,
    );
  }
  if (options.json) {
    console.log(
      JSON.stringify({
        model: first.model,
        version: first.version,
        alias: first.alias,
        classes,
        predictions: results.map(({ image, r }) => ({
          image,
          predicted: r.predicted,
          probabilities: Object.fromEntries(classes.map((c, j) => [c, r.probabilities[j]])),
        })),
      }),
    );
  }
}
