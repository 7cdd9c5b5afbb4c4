import { and, eq } from 'drizzle-orm';
import { InvalidInputError } from '@braintune/protocol';
import type { DbOrTx } from '../db/client.js';
import { modelAliases } from '../db/schema.js';

/** `registry:NAME@ALIAS` inside a study config (a version `@vN` is already pinned). */
const ALIAS_REF = /registry:([A-Za-z0-9][A-Za-z0-9._-]{0,63})@((?!v\d+\b)[A-Za-z][A-Za-z0-9_-]{0,31})/g;

/**
 * Replaces every transfer base named by alias (`registry:NAME@production`) with the version the
 * alias points at now: an alias may move while the study runs, and trials of one study must
 * share one base. Workers (which have no database) then load a fixed registry version.
 */
export async function pinBaseModelAliases(db: DbOrTx, input: string | object): Promise<string | object> {
  const text = typeof input === 'string' ? input : JSON.stringify(input);
  const refs = new Map<string, { model: string; alias: string }>();
  for (const m of text.matchAll(ALIAS_REF)) refs.set(m[0], { model: m[1]!, alias: m[2]! });
  if (refs.size === 0) return input;
  let pinned = text;
  for (const [ref, { model, alias }] of refs) {
    const [row] = await db
      .select({ version: modelAliases.version })
      .from(modelAliases)
      .where(and(eq(modelAliases.modelName, model), eq(modelAliases.alias, alias)));
    if (!row)
      throw new InvalidInputError(
        `baseModelUrl ${ref}: model ${model} has no alias ${alias}`,
        'promote a model first (braintune promote), or name a version as registry:NAME@vN',
      );
    pinned = pinned.split(ref).join(`registry:${model}@v${row.version}`);
  }
  return typeof input === 'string' ? pinned : (JSON.parse(pinned) as object);
}
