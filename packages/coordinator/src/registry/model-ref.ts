import { InvalidInputError } from '@braintune/protocol';

/** `NAME`, `NAME@ALIAS` or `NAME@vN`: how users name a registry version. */
export type ModelRef =
  { model: string; alias: string } | { model: string; version: number } | { model: string };

export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ALIAS_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;

export function assertModelName(name: string): void {
  if (!MODEL_NAME_PATTERN.test(name)) {
    throw new InvalidInputError(
      `invalid model name "${name}"`,
      'use 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit',
    );
  }
}

export function assertAlias(alias: string): void {
  if (!ALIAS_PATTERN.test(alias) || /^v\d+$/.test(alias)) {
    throw new InvalidInputError(
      `invalid alias "${alias}"`,
      'use a word such as production or staging (letters, digits, "_", "-"; not v<N>)',
    );
  }
}

export function parseModelRef(text: string): ModelRef {
  const at = text.lastIndexOf('@');
  const model = at === -1 ? text : text.slice(0, at);
  assertModelName(model);
  if (at === -1) return { model };
  const suffix = text.slice(at + 1);
  const version = /^v(\d+)$/.exec(suffix);
  if (version) return { model, version: Number(version[1]) };
  assertAlias(suffix);
  return { model, alias: suffix };
}

export function formatModelRef(ref: ModelRef): string {
  if ('version' in ref) return `${ref.model}@v${ref.version}`;
  if ('alias' in ref) return `${ref.model}@${ref.alias}`;
  return ref.model;
}
