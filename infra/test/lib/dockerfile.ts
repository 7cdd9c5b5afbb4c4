import { readFileSync } from 'node:fs';

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, … */
  keyword: string;
  /** Flags before the arguments (`--from=build`, `--chown=node:node`). */
  flags: Record<string, string>;
  /** The rest of the line (continuations joined). */
  args: string;
  /** Arguments of the exec (JSON array) form, else undefined. */
  exec?: string[];
  line: number;
}

export interface Stage {
  /** Base image (ARGs not substituted). */
  from: string;
  name?: string;
  index: number;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM (usable in FROM lines), with their defaults. */
  globalArgs: Map<string, string | undefined>;
  stages: Stage[];
  instructions: Instruction[];
}

const KEYWORDS = new Set([
  'FROM',
  'RUN',
  'CMD',
  'LABEL',
  'EXPOSE',
  'ENV',
  'ADD',
  'COPY',
  'ENTRYPOINT',
  'VOLUME',
  'USER',
  'WORKDIR',
  'ARG',
  'ONBUILD',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'SHELL',
  'MAINTAINER',
]);

/** A small parser of Dockerfile instructions: comments, line continuations, flags, exec form. */
export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const startLine = i + 1;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    // Join continuation lines (comment lines inside a continuation are skipped, as Docker does).
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      while (i < lines.length && /^\s*#/.test(lines[i]!)) i++;
      if (i < lines.length) line += lines[i]!;
    }
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match) throw new Error(`line ${startLine}: cannot parse "${line.trim()}"`);
    const keyword = match[1]!.toUpperCase();
    if (!KEYWORDS.has(keyword)) throw new Error(`line ${startLine}: unknown instruction ${match[1]}`);
    let rest = match[2]!.trim();
    const flags: Record<string, string> = {};
    // HEALTHCHECK's and COPY/ADD/RUN/FROM's --flags come before the arguments.
    for (
      let flag = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest);
      flag;
      flag = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest)
    ) {
      flags[flag[1]!] = flag[2] ?? 'true';
      rest = rest.slice(flag[0].length);
    }
    let exec: string[] | undefined;
    const body = keyword === 'HEALTHCHECK' ? rest.replace(/^CMD\s+/, '') : rest;
    if (body.startsWith('[')) {
      try {
        const parsed: unknown = JSON.parse(body);
        if (Array.isArray(parsed) && parsed.every((p) => typeof p === 'string')) exec = parsed as string[];
      } catch {
        throw new Error(`line ${startLine}: ${keyword} has an invalid JSON array: ${body}`);
      }
    }
    instructions.push({ keyword, flags, args: rest, ...(exec ? { exec } : {}), line: startLine });
  }

  const globalArgs = new Map<string, string | undefined>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: bad FROM "${ins.args}"`);
      stages.push({ from: m[1]!, ...(m[2] ? { name: m[2] } : {}), index: stages.length, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: only ARG may come before the first FROM`);
      const [name, value] = ins.args.split('=', 2);
      globalArgs.set(name!.trim(), value?.trim());
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { globalArgs, stages, instructions };
}

export function readDockerfile(file: string): Dockerfile {
  return parseDockerfile(readFileSync(file, 'utf8'));
}

/** Substitutes ${NAME} / $NAME with the given values (for FROM lines and paths). */
export function substituteArgs(text: string, args: ReadonlyMap<string, string | undefined>): string {
  return text.replace(
    /\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)/g,
    (whole, a: string | undefined, b: string | undefined) => args.get((a ?? b)!) ?? whole,
  );
}
