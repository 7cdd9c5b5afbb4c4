import { InvalidInputError } from '@braintune/protocol';
import { scanImageFolder } from '@braintune/model-core/dataset';
import { mapTestClasses, scoreFromPredictions, type TestSetEvaluation } from '@braintune/model-core/metrics';
import { predictWithModel } from './client.js';

export interface RegistryEvaluation {
  model: string;
  version: number;
  evaluation: TestSetEvaluation;
  skipped: { path: string; reason: string }[];
}

/**
 * `braintune evaluate --model NAME[@ALIAS]`: every scan goes through `POST /api/predict`, so the
 * server applies the version's recorded preprocessing; the scores come from the same
 * `scoreFromPredictions` as the checkpoint form. After the first answer the version is pinned
 * (`NAME@vN`), so moving an alias mid-run cannot mix two models.
 */
export async function evaluateRegistryModel(model: string, dataDir: string): Promise<RegistryEvaluation> {
  const scanned = await scanImageFolder(dataDir);
  if (scanned.files.length === 0)
    throw new InvalidInputError(
      `test set ${dataDir} has no images`,
      'add JPEG/PNG scans to its class folders',
    );
  const skipped = scanned.ignored.map((i) => ({ path: i.path, reason: i.reason }));
  let pinned: { name: string; version: number; classes: string[]; toModel: number[] } | null = null;
  const yTrue: number[] = [];
  const yPred: number[] = [];
  for (const file of scanned.files) {
    let r;
    try {
      r = await predictWithModel(file.absPath, pinned ? `${pinned.name}@v${pinned.version}` : model);
    } catch (err) {
      if (!(err instanceof InvalidInputError) || pinned === null) throw err;
      skipped.push({ path: file.relPath, reason: err.message });
      continue;
    }
    pinned ??= {
      name: r.model,
      version: r.version,
      classes: r.classes,
      toModel: mapTestClasses(r.classes, scanned.classes, dataDir),
    };
    yTrue.push(pinned.toModel[file.label] as number);
    yPred.push(pinned.classes.indexOf(r.predicted));
  }
  if (pinned === null) throw new InvalidInputError(`test set ${dataDir} has no readable images`);
  return {
    model: pinned.name,
    version: pinned.version,
    evaluation: scoreFromPredictions(pinned.classes, yTrue, yPred),
    skipped,
  };
}
