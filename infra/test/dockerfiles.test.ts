import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvSchema } from '@braintune/protocol';
import { REPO_ROOT } from './lib/cli.js';
import {
  parseDockerfile,
  readDockerfile,
  substituteArgs,
  type Dockerfile,
  type Stage,
} from './lib/dockerfile.js';

const DOCKERFILES = ['infra/Dockerfile', 'infra/Dockerfile.gpu'];
const rootPackage = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  workspaces: string[];
};

function finalStage(df: Dockerfile): Stage {
  return df.stages.at(-1)!;
}

/** Stages a stage builds on, through FROM <stage> and COPY --from=<stage>. */
function stageByName(df: Dockerfile, name: string): Stage | undefined {
  return df.stages.find((s) => s.name === name) ?? (/^\d+$/.test(name) ? df.stages[Number(name)] : undefined);
}

function ancestry(df: Dockerfile, stage: Stage): Stage[] {
  const parent = stageByName(df, stage.from);
  return parent ? [...ancestry(df, parent), stage] : [stage];
}

/** Every problem found in one Dockerfile; an empty list means it passes. */
export function lintDockerfile(file: string, df: Dockerfile): string[] {
  const problems: string[] = [];
  const where = (line: number) => `${file}:${line}`;
  if (df.stages.length < 2) problems.push(`${file}: not multi-stage (${df.stages.length} FROM)`);
  const names = new Set<string>();

  for (const stage of df.stages) {
    // Base images: a declared ARG or a pinned tag, never an implicit :latest.
    const base = substituteArgs(stage.from, df.globalArgs);
    if (!stageByName(df, stage.from)) {
      if (/\$/.test(base))
        problems.push(`${file}: FROM ${stage.from} uses an ARG that is not declared before the first FROM`);
      else if (!/:[\w.-]+$/.test(base) || base.endsWith(':latest'))
        problems.push(`${file}: base image ${base} is not pinned to a tag`);
    }
    if (stage.name) {
      if (names.has(stage.name)) problems.push(`${file}: two stages named ${stage.name}`);
      names.add(stage.name);
    }
    const declared = new Set(df.globalArgs.keys());
    for (const ins of stage.instructions) {
      if (ins.keyword === 'ARG') declared.add(ins.args.split('=')[0]!.trim());
      if (ins.keyword === 'COPY' || ins.keyword === 'ADD') {
        const from = ins.flags.from;
        const parts = ins.exec ?? ins.args.split(/\s+/);
        const sources = parts.slice(0, -1);
        if (sources.length === 0) problems.push(`${where(ins.line)}: ${ins.keyword} without a source`);
        if (from !== undefined) {
          // --from must name an earlier stage (or an image reference with a tag).
          const target = stageByName(df, from);
          if (!target && !/[:/]/.test(from))
            problems.push(`${where(ins.line)}: COPY --from=${from}: no such stage`);
          if (target && target.index >= stage.index)
            problems.push(`${where(ins.line)}: COPY --from=${from} refers to a later stage`);
        } else {
          for (const src of sources) {
            if (!existsSync(path.join(REPO_ROOT, src)))
              problems.push(`${where(ins.line)}: COPY source ${src} does not exist in the repository`);
          }
        }
      }
      // Any ${VAR} used in RUN must be a declared ARG or ENV of this stage (typos of ARG names).
      if (ins.keyword === 'RUN') {
        for (const m of ins.args.matchAll(/\$\{([A-Za-z_]\w*)\}/g)) {
          const envDeclared = stage.instructions.some(
            (i) => i.keyword === 'ENV' && i.line < ins.line && new RegExp(`\\b${m[1]}=`).test(i.args),
          );
          if (!declared.has(m[1]!) && !envDeclared)
            problems.push(
              `${where(ins.line)}: RUN uses \${${m[1]}} but no ARG/ENV declares it in this stage`,
            );
        }
      }
    }
  }

  // Dependencies: npm ci from the lock file, then dev dependencies pruned before the final image.
  const all = df.stages.flatMap((s) => s.instructions);
  const npmCi = all.find((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
  if (!npmCi) problems.push(`${file}: no "npm ci" (install from the lock file)`);
  if (all.some((i) => i.keyword === 'RUN' && /\bnpm (install|i)\b(?![^&]*@)/.test(i.args))) {
    problems.push(`${file}: a bare "npm install" ignores the lock file; use npm ci`);
  }
  const depsStage = df.stages.find((s) => s.instructions.some((i) => i === npmCi));
  if (depsStage) {
    // npm ci of a workspace root needs every workspace's package.json, copied before it.
    const copied = depsStage.instructions
      .filter((i) => i.keyword === 'COPY' && i.line < npmCi!.line)
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const needed of [
      'package.json',
      'package-lock.json',
      ...rootPackage.workspaces.map((w) => `${w}/package.json`),
    ]) {
      if (!copied.includes(needed))
        problems.push(
          `${file}: ${needed} is not copied before npm ci (npm ci would fail or skip a workspace)`,
        );
    }
  }

  const last = finalStage(df);
  const lastIns = last.instructions;
  const user = lastIns.filter((i) => i.keyword === 'USER').at(-1);
  if (!user || /^(root|0)(:|$)/.test(user.args))
    problems.push(`${file}: the final stage does not switch to a non-root USER`);
  if (!lastIns.some((i) => i.keyword === 'HEALTHCHECK'))
    problems.push(`${file}: the final stage has no HEALTHCHECK`);
  if (lastIns.some((i) => i.keyword === 'RUN' && /\bnpm (ci|install)\b/.test(i.args))) {
    problems.push(`${file}: the final stage installs packages itself (dev tools would end up in it)`);
  }
  for (const copy of lastIns.filter((i) => i.keyword === 'COPY' && /node_modules/.test(i.args))) {
    const source = copy.flags.from ? stageByName(df, copy.flags.from) : undefined;
    const chain = source ? ancestry(df, source) : [];
    const runs = chain.flatMap((s) => s.instructions).filter((i) => i.keyword === 'RUN');
    const pruneIndex = runs.findLastIndex((i) => /npm prune --omit=dev/.test(i.args));
    const lastInstall = runs.findLastIndex(
      (i) => /\bnpm (ci|install)\b/.test(i.args) && !/--omit=dev/.test(i.args),
    );
    if (pruneIndex < 0 || lastInstall > pruneIndex) {
      problems.push(
        `${file}:${copy.line}: node_modules comes from a stage without "npm prune --omit=dev" after its last install (dev dependencies would ship)`,
      );
    }
  }
  const entry = lastIns.find((i) => i.keyword === 'ENTRYPOINT');
  const script = entry?.exec?.find((a) => a.endsWith('.js') || a.endsWith('.mjs'));
  if (!script) problems.push(`${file}: the final stage has no exec-form ENTRYPOINT running a script`);
  else {
    const workdir = lastIns.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args ?? '/';
    const rel = path.posix.relative(workdir, script);
    if (rel.startsWith('..') || !existsSync(path.join(REPO_ROOT, rel)))
      problems.push(`${file}: ENTRYPOINT script ${script} is not in the image (no ${rel} in the repository)`);
  }
  const health = lastIns.find((i) => i.keyword === 'HEALTHCHECK');
  const healthScript = health?.exec?.find((a) => a.endsWith('.mjs') || a.endsWith('.js'));
  if (health && healthScript) {
    const copiedTo = lastIns
      .filter((i) => i.keyword === 'COPY' && !i.flags.from)
      .map((i) => i.args.split(/\s+/));
    const workdir = lastIns.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args ?? '/';
    const ok = copiedTo.some((parts) => path.posix.resolve(workdir, parts.at(-1)!) === healthScript);
    if (!ok) problems.push(`${file}: HEALTHCHECK runs ${healthScript}, which no COPY puts there`);
  }
  return problems;
}

describe('Dockerfiles', () => {
  for (const file of DOCKERFILES) {
    it(`${file} parses and passes every check`, () => {
      const df = readDockerfile(path.join(REPO_ROOT, file));
      expect(lintDockerfile(file, df)).toEqual([]);
    });
  }

  it('the GPU image runs tfjs-node-gpu on the CUDA/cuDNN that its libtensorflow needs', () => {
    const df = readDockerfile(path.join(REPO_ROOT, 'infra/Dockerfile.gpu'));
    const cuda = df.globalArgs.get('CUDA_IMAGE') ?? '';
    // tfjs-node-gpu 4.22.0 -> libtensorflow 2.9.1 -> CUDA 11.2 + cuDNN 8.1 (see the header of the file).
    expect(cuda).toMatch(/^nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-ubuntu\d+\.\d+$/);
    expect(finalStage(df).from).toBe('${CUDA_IMAGE}');
    const peer = JSON.parse(
      readFileSync(path.join(REPO_ROOT, 'packages/model-core/package.json'), 'utf8'),
    ) as {
      peerDependencies: Record<string, string>;
    };
    expect(df.globalArgs.get('TFJS_NODE_GPU_VERSION')).toBe(
      peer.peerDependencies['@tensorflow/tfjs-node-gpu'],
    );
    const install = df.stages
      .flatMap((s) => s.instructions)
      .find((i) => i.keyword === 'RUN' && i.args.includes('@tensorflow/tfjs-node-gpu@'));
    expect(install?.args).toContain('"@tensorflow/tfjs-node-gpu@${TFJS_NODE_GPU_VERSION}"');
    expect(install?.args).not.toContain('--ignore-scripts'); // its install script fetches libtensorflow
    const env = finalStage(df)
      .instructions.filter((i) => i.keyword === 'ENV')
      .map((i) => i.args)
      .join(' ');
    const backend = /BRAINTUNE_BACKEND=(\S+)/.exec(env)?.[1];
    expect(backend).toBe('tensorflow-gpu');
    expect(EnvSchema.shape.BRAINTUNE_BACKEND.unwrap().options).toContain(backend);
  });

  it('.dockerignore keeps local dependencies, builds and secrets out of the build context', () => {
    const ignored = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    for (const pattern of ['**/node_modules', '**/dist', '.env', '.git']) expect(ignored).toContain(pattern);
    // Everything the Dockerfiles COPY from the context must not be ignored.
    for (const file of DOCKERFILES) {
      const df = readDockerfile(path.join(REPO_ROOT, file));
      const sources = df.stages
        .flatMap((st) => st.instructions)
        .filter((i) => i.keyword === 'COPY' && !i.flags.from)
        .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
      for (const src of sources) expect(ignored, `${file} copies ${src}`).not.toContain(src);
    }
  });

  describe('the checks catch mistakes', () => {
    const good = readFileSync(path.join(REPO_ROOT, 'infra/Dockerfile'), 'utf8');
    const mutations: Array<[string, (s: string) => string, RegExp]> = [
      ['a root final user', (s) => s.replace('USER node', 'USER root'), /non-root USER/],
      [
        'a misspelt COPY source',
        (s) => s.replace('infra/healthcheck.mjs ./infra', 'infra/healthchek.mjs ./infra'),
        /does not exist/,
      ],
      [
        'a missing workspace manifest',
        (s) => s.replace('COPY packages/worker/package.json packages/worker/\n', ''),
        /packages\/worker\/package.json is not copied/,
      ],
      ['no prune', (s) => s.replace(/ && npm prune --omit=dev[^\n]*\n/, ' \\\n'), /without "npm prune/],
      [
        'an unknown stage',
        (s) =>
          s.replace(
            'COPY --from=build --chown=node:node /app/node_modules',
            'COPY --from=biuld --chown=node:node /app/node_modules',
          ),
        /no such stage/,
      ],
      ['no healthcheck', (s) => s.replace(/^HEALTHCHECK.*$/m, ''), /no HEALTHCHECK/],
      [
        'a bad entrypoint',
        (s) => s.replace('packages/cli/bin/braintune.js', 'packages/cli/bin/braintune.mjs'),
        /ENTRYPOINT script/,
      ],
    ];
    for (const [name, mutate, expected] of mutations) {
      it(`flags ${name}`, () => {
        const mutated = mutate(good);
        expect(mutated).not.toBe(good);
        expect(lintDockerfile('mutated', parseDockerfile(mutated)).join('\n')).toMatch(expected);
      });
    }
  });
});
