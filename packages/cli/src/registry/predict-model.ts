import { predictWithModel } from './client.js';
import { predictionJson, predictionTable } from './prediction-table.js';

/**
 * `braintune predict IMAGE… --model NAME[@ALIAS]`: the registry form of predict, called from
 * commands/predict.ts. Same table as the checkpoint form; with --json the last line is
 * `{model, version, alias, kind, classes, threshold, tta, predictions: [{image, predicted, decision, refer, confidence, probabilities}]}`.
 */
export async function runRegistryPredict(
  images: string[],
  model: string,
  options: { json?: boolean | undefined; tta?: boolean | undefined } = {},
): Promise<void> {
  const tta = options.tta === true;
  const rows = [];
  let first = null;
  for (const image of images) {
    const r = await predictWithModel(image, model, { tta });
    first ??= r;
    rows.push({ image, ...r });
  }
  if (first === null) return;
  const kind = first.ensemble === null ? '' : `, ensemble of ${first.ensemble.members.length}`;
  console.log(`${first.model} v${first.version}${first.alias ? ` (${first.alias})` : ''}${kind}`);
  for (const line of predictionTable(rows)) console.log(line);
  if (options.json) {
    console.log(
      JSON.stringify({
        model: first.model,
        version: first.version,
        alias: first.alias,
        kind: first.ensemble === null ? 'single' : 'ensemble',
        ...predictionJson(rows, tta),
      }),
    );
  }
}
