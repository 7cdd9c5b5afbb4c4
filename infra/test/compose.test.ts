import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { EnvSchema } from '@braintune/protocol';
import { S3EnvSchema } from '@braintune/artifacts';
import { REPO_ROOT, checkInvocation } from './lib/cli.js';
import { readDockerfile } from './lib/dockerfile.js';
import { allStrings, interpolateTree, readDotenv, referencedVariables } from './lib/interpolate.js';

type Service = {
  image?: string;
  build?: { context?: string; dockerfile?: string } | string;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: Array<string | { target: number; published?: string | number }>;
  volumes?: Array<string | { type?: string; source?: string; target: string }>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: string[] | Record<string, { condition?: string }>;
  profiles?: string[];
  restart?: string;
  deploy?: {
    replicas?: number | string;
    resources?: {
      reservations?: {
        devices?: Array<{ driver?: string; count?: number | string; capabilities?: string[] }>;
      };
    };
  };
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown> };

const COMPOSE_FILE = path.join(REPO_ROOT, 'docker-compose.yml');
const ENV_EXAMPLE = path.join(REPO_ROOT, '.env.example');
const REQUIRED = ['redis', 'postgres', 'migrate', 'coordinator', 'dashboard', 'worker', 'worker-cpu'];
const CONDITIONS = ['service_started', 'service_healthy', 'service_completed_successfully'];
/** Variables our processes read besides the protocol's and the S3 store's schemas. */
const OTHER_APP_VARS = ['LOG_LEVEL', 'HEALTHCHECK_URL', 'TF_FORCE_GPU_ALLOW_GROWTH', 'NODE_ENV'];
const KNOWN_APP_VARS = new Set([
  ...Object.keys(EnvSchema.shape),
  ...Object.keys(S3EnvSchema.shape),
  ...OTHER_APP_VARS,
]);

function envOf(s: Service): Record<string, string> {
  if (Array.isArray(s.environment))
    return Object.fromEntries(s.environment.map((e) => [e.split('=')[0]!, e.split('=').slice(1).join('=')]));
  return Object.fromEntries(
    Object.entries(s.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]),
  );
}
function argv(value: string[] | string | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value.map(String) : value.split(/\s+/);
}
function dependsOn(s: Service): Record<string, string> {
  if (!s.depends_on) return {};
  if (Array.isArray(s.depends_on)) return Object.fromEntries(s.depends_on.map((d) => [d, 'service_started']));
  return Object.fromEntries(
    Object.entries(s.depends_on).map(([k, v]) => [k, v.condition ?? 'service_started']),
  );
}
function buildOf(s: Service): { context: string; dockerfile: string } | undefined {
  if (!s.build) return undefined;
  if (typeof s.build === 'string') return { context: s.build, dockerfile: 'Dockerfile' };
  return { context: s.build.context ?? '.', dockerfile: s.build.dockerfile ?? 'Dockerfile' };
}
function mounts(s: Service): Array<{ source?: string; target: string }> {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { ...(v.source ? { source: v.source } : {}), target: v.target };
    const parts = v.split(':');
    return parts.length === 1 ? { target: parts[0]! } : { source: parts[0]!, target: parts[1]! };
  });
}
/** Our images: built from this repository's Dockerfiles (their ENTRYPOINT is the braintune CLI). */
function isAppService(s: Service): boolean {
  return buildOf(s)?.dockerfile.startsWith('infra/Dockerfile') ?? false;
}

/** Every problem in a compose text; [] means it passes. */
export async function lintCompose(
  text: string,
  options: { checkCommands?: boolean } = {},
): Promise<string[]> {
  const envExampleFile = ENV_EXAMPLE;
  const problems: string[] = [];
  const raw = YAML.parse(text, { merge: true }) as Compose;
  const env = readDotenv(envExampleFile);

  // Variables: each one the file reads is documented in .env.example, and vice versa.
  const referenced = new Set(allStrings(raw).flatMap(referencedVariables));
  for (const name of referenced)
    if (!env.has(name)) problems.push(`variable ${name} is used but not documented in .env.example`);
  for (const name of env.keys())
    if (!referenced.has(name))
      problems.push(`.env.example documents ${name}, which docker-compose.yml never reads`);

  let compose: Compose;
  try {
    compose = interpolateTree(raw, env) as Compose;
  } catch (err) {
    return [...problems, `interpolation with .env.example fails: ${(err as Error).message}`];
  }
  const services = compose.services ?? {};
  const declaredVolumes = new Set(Object.keys(compose.volumes ?? {}));
  for (const name of REQUIRED) if (!services[name]) problems.push(`service ${name} is missing`);

  const healthy = (name: string): boolean => {
    const s = services[name];
    if (!s) return false;
    if (s.healthcheck) return !s.healthcheck.disable;
    const b = buildOf(s);
    return b
      ? readDockerfile(path.join(REPO_ROOT, b.context, b.dockerfile))
          .stages.at(-1)!
          .instructions.some((i) => i.keyword === 'HEALTHCHECK')
      : false;
  };

  const invocations: Array<Promise<string[]>> = [];
  for (const [name, s] of Object.entries(services)) {
    const where = `service ${name}`;
    if (!s.image && !s.build) problems.push(`${where}: neither image nor build`);
    if (s.image && !s.build && !/^[\w./-]+:[\w.-]+$/.test(s.image))
      problems.push(`${where}: image ${s.image} is not pinned to a tag`);
    if (s.image?.endsWith(':latest') && !s.build)
      problems.push(`${where}: third-party image ${s.image} uses :latest`);
    const b = buildOf(s);
    if (b) {
      if (!existsSync(path.join(REPO_ROOT, b.context)))
        problems.push(`${where}: build context ${b.context} does not exist`);
      else if (!existsSync(path.join(REPO_ROOT, b.context, b.dockerfile)))
        problems.push(`${where}: Dockerfile ${b.dockerfile} does not exist`);
    }
    if (isAppService(s)) {
      const args = argv(s.command);
      if (s.entrypoint) problems.push(`${where}: overrides the braintune ENTRYPOINT`);
      if (options.checkCommands !== false) invocations.push(checkInvocation(args, where));
      const vars = envOf(s);
      for (const key of Object.keys(vars))
        if (!KNOWN_APP_VARS.has(key))
          problems.push(`${where}: sets ${key}, which no braintune process reads`);
      const parsed = EnvSchema.safeParse(
        Object.fromEntries(Object.entries(vars).filter(([, v]) => v !== '')),
      );
      if (!parsed.success)
        problems.push(
          `${where}: environment rejected by readEnv(): ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
      const s3 = S3EnvSchema.safeParse(vars);
      if (!s3.success)
        problems.push(
          `${where}: environment rejected by the S3 settings: ${s3.error.issues.map((i) => i.path.join('.')).join(', ')}`,
        );
      const artifactRoot = vars.ARTIFACT_ROOT;
      if (!artifactRoot) problems.push(`${where}: no ARTIFACT_ROOT`);
      else if (
        !artifactRoot.startsWith('s3://') &&
        !mounts(s).some((m) => m.source && declaredVolumes.has(m.source) && m.target === artifactRoot)
      ) {
        problems.push(
          `${where}: ARTIFACT_ROOT ${artifactRoot} is not a shared volume mounted in the container`,
        );
      }
    }
    for (const m of mounts(s)) {
      if (!m.source) continue;
      const isPath = m.source.startsWith('.') || m.source.startsWith('/') || m.source.startsWith('~');
      if (!isPath && !declaredVolumes.has(m.source))
        problems.push(`${where}: volume ${m.source} is not declared under top-level volumes`);
      if (m.source.startsWith('./') && !existsSync(path.join(REPO_ROOT, m.source)))
        problems.push(`${where}: bind mount ${m.source} does not exist`);
    }
    for (const p of s.ports ?? []) {
      const spec = typeof p === 'string' ? p : `${p.published ?? ''}:${p.target}`;
      if (!/^(\d+:)?\d+(\/(tcp|udp))?$/.test(spec)) problems.push(`${where}: bad port mapping "${spec}"`);
    }
    if (s.healthcheck?.test) {
      const test = argv(s.healthcheck.test);
      if (!['CMD', 'CMD-SHELL', 'NONE'].includes(test[0]!))
        problems.push(`${where}: healthcheck test must start with CMD or CMD-SHELL`);
    }
    for (const [target, condition] of Object.entries(dependsOn(s))) {
      const t = services[target];
      if (!t) {
        problems.push(`${where}: depends_on ${target}, which is not a service`);
        continue;
      }
      if (!CONDITIONS.includes(condition))
        problems.push(`${where}: depends_on ${target} with unknown condition ${condition}`);
      if (condition === 'service_healthy' && !healthy(target))
        problems.push(`${where}: waits for ${target} to be healthy, but ${target} has no healthcheck`);
      if (condition === 'service_completed_successfully' && t.restart !== 'no')
        problems.push(
          `${where}: waits for ${target} to complete, but ${target} restarts (restart: "no" expected)`,
        );
      if (t.profiles?.length && !(s.profiles ?? []).some((p) => t.profiles!.includes(p))) {
        problems.push(
          `${where}: depends on ${target}, which only runs under profile(s) ${t.profiles.join(',')}`,
        );
      }
    }
  }
  // No dependency cycles.
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (n: string, trail: string[]): void => {
    if (done.has(n)) return;
    if (visiting.has(n)) {
      problems.push(`depends_on cycle: ${[...trail, n].join(' -> ')}`);
      return;
    }
    visiting.add(n);
    for (const d of Object.keys(dependsOn(services[n] ?? {}))) if (services[d]) visit(d, [...trail, n]);
    visiting.delete(n);
    done.add(n);
  };
  for (const n of Object.keys(services)) visit(n, []);

  // What the issue asks of particular services.
  const redis = services.redis;
  if (redis) {
    const cmd = argv(redis.command).join(' ');
    if (!/--appendonly yes/.test(cmd)) problems.push('redis: AOF is not on (--appendonly yes)');
    if (!/--maxmemory-policy noeviction/.test(cmd))
      problems.push('redis: BullMQ needs --maxmemory-policy noeviction');
    if (!mounts(redis).some((m) => m.target === '/data' && m.source && declaredVolumes.has(m.source)))
      problems.push('redis: /data is not on a named volume');
    if (!redis.healthcheck) problems.push('redis: no healthcheck');
  }
  const postgres = services.postgres;
  if (postgres) {
    if (
      !mounts(postgres).some(
        (m) => m.target === '/var/lib/postgresql/data' && m.source && declaredVolumes.has(m.source),
      )
    )
      problems.push('postgres: data directory is not on a named volume');
    if (!postgres.healthcheck) problems.push('postgres: no healthcheck');
  }
  const migrate = services.migrate;
  if (migrate && migrate.restart !== 'no') problems.push('migrate: a one-shot must have restart: "no"');
  for (const name of ['coordinator', 'dashboard']) {
    const s = services[name];
    if (s && dependsOn(s).migrate !== 'service_completed_successfully')
      problems.push(`${name}: must wait for migrate to complete successfully`);
    if (s && !envOf(s).BRAINTUNE_API_TOKEN) problems.push(`${name}: BRAINTUNE_API_TOKEN is not passed`);
  }
  const dashboard = services.dashboard;
  if (dashboard) {
    const port = envOf(dashboard).PORT ?? '8080';
    if (!(dashboard.ports ?? []).some((p) => String(p).endsWith(`:${port}`)))
      problems.push(`dashboard: container port ${port} is not published`);
    if (!healthy('dashboard')) problems.push('dashboard: no healthcheck');
    const url = envOf(dashboard).HEALTHCHECK_URL;
    if (!url || new URL(url).port !== port)
      problems.push(`dashboard: HEALTHCHECK_URL ${url} does not probe port ${port}`);
  }
  for (const name of ['worker', 'worker-cpu']) {
    const s = services[name];
    if (!s) continue;
    if ('DATABASE_URL' in envOf(s)) problems.push(`${name}: workers must not get database credentials`);
    if (s.deploy?.replicas === undefined || !(Number(s.deploy.replicas) >= 1))
      problems.push(`${name}: no replica count`);
  }
  const worker = services.worker;
  if (worker) {
    const devices = worker.deploy?.resources?.reservations?.devices ?? [];
    if (!devices.some((d) => d.capabilities?.includes('gpu') && d.driver === 'nvidia'))
      problems.push(
        'worker: no NVIDIA GPU reservation (deploy.resources.reservations.devices with capabilities [gpu])',
      );
    if (envOf(worker).BRAINTUNE_BACKEND !== 'tensorflow-gpu')
      problems.push('worker: BRAINTUNE_BACKEND is not tensorflow-gpu');
    if (buildOf(worker)?.dockerfile !== 'infra/Dockerfile.gpu')
      problems.push('worker: not built from infra/Dockerfile.gpu');
  }
  const cpu = services['worker-cpu'];
  if (cpu && !cpu.profiles?.includes('cpu')) problems.push('worker-cpu: not under the "cpu" profile');

  problems.push(...(await Promise.all(invocations)).flat());
  return problems;
}

describe('docker-compose.yml', () => {
  const text = readFileSync(COMPOSE_FILE, 'utf8');

  // A second opinion where Docker Compose's own validator is installed (Debian's docker-compose
  // 1.29 knows the Compose Specification except the top-level `name`, which is removed here).
  const composeCli = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!composeCli)(
    'is accepted by docker-compose config (schema validation without a daemon)',
    async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'braintune-compose-'));
      try {
        await writeFile(path.join(dir, 'compose.yml'), text.replace(/^name: .*$/m, ''));
        const result = spawnSync(
          'docker-compose',
          [
            '--project-directory',
            REPO_ROOT,
            '--env-file',
            ENV_EXAMPLE,
            '-f',
            path.join(dir, 'compose.yml'),
            'config',
            '-q',
          ],
          { encoding: 'utf8' },
        );
        expect(result.stderr).toBe('');
        expect(result.status).toBe(0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );

  it('passes every check: services, images, builds, CLI commands, ports, volumes, healthchecks, dependencies, variables', async () => {
    expect(await lintCompose(text, { checkCommands: true })).toEqual([]);
  });

  describe('the checks catch mistakes', () => {
    // [name, mutation, expected problem, whether the check needs the CLI]
    const mutations: Array<[string, (s: string) => string, RegExp, boolean?]> = [
      [
        'a misspelt CLI command',
        (s) => s.replace('command: ["coordinator", ', 'command: ["coordinater", '),
        /"braintune coordinater" is not a CLI command/,
        true,
      ],
      [
        'an unknown CLI option',
        (s) => s.replace('"--per-class"', '"--per-klass"'),
        /has no option --per-klass/,
        true,
      ],
      [
        'a dashboard bound to localhost',
        (s) => s.replace('["dashboard", "--host", "0.0.0.0"]', '["dashboard"]'),
        /must listen on all interfaces/,
        true,
      ],
      [
        'a dependency on a missing service',
        (s) =>
          s.replace(
            /(\n {6})postgres:(\n {8}condition: service_healthy\n {4}restart: "no")/,
            '$1postgress:$2',
          ),
        /depends_on postgress, which is not a service/,
      ],
      [
        'an invalid condition',
        (s) => s.replace('condition: service_completed_successfully', 'condition: service_done'),
        /unknown condition service_done/,
      ],
      [
        'an undeclared volume',
        (s) => s.replace('- redis-data:/data', '- redis-date:/data'),
        /volume redis-date is not declared/,
      ],
      [
        'an undocumented variable',
        (s) => s.replace('${WORKER_REPLICAS:-1}', '${WORKER_REPLICA:-1}'),
        /WORKER_REPLICA is used but not documented/,
      ],
      [
        'a misspelt app variable',
        (s) => s.replace('REDIS_URL: ${REDIS_URL', 'REDIS_ULR: ${REDIS_URL'),
        /sets REDIS_ULR, which no braintune process reads/,
      ],
      [
        'a missing Dockerfile',
        (s) => s.replace('dockerfile: infra/Dockerfile.gpu', 'dockerfile: infra/Dockerfile.cuda'),
        /Dockerfile infra\/Dockerfile.cuda does not exist/,
      ],
      [
        'no GPU reservation',
        (s) => s.replace('capabilities: [gpu]', 'capabilities: [compute]'),
        /no NVIDIA GPU reservation/,
      ],
      ['AOF off', (s) => s.replace('"--appendonly", "yes"', '"--appendonly", "no"'), /AOF is not on/],
      [
        'database credentials in a worker',
        (s) =>
          s.replace(
            'BRAINTUNE_BACKEND: wasm',
            'BRAINTUNE_BACKEND: wasm\n      DATABASE_URL: ${DATABASE_URL}',
          ),
        /workers must not get database credentials/,
      ],
      [
        'waiting for a service without healthcheck',
        (s) => s.replace(/\n {4}healthcheck:\n {6}test: \["CMD", "redis-cli", "ping"\]\n( {6}.*\n){3}/, '\n'),
        /waits for redis to be healthy, but redis has no healthcheck/,
      ],
      [
        'a bad backend value',
        (s) => s.replace('BRAINTUNE_BACKEND: wasm', 'BRAINTUNE_BACKEND: wasn'),
        /rejected by readEnv\(\): BRAINTUNE_BACKEND/,
      ],
    ];
    for (const [name, mutate, expected, needsCli = false] of mutations) {
      it(`flags ${name}`, async () => {
        const mutated = mutate(text);
        expect(mutated, 'the mutation must change the file').not.toBe(text);
        expect((await lintCompose(mutated, { checkCommands: needsCli })).join('\n')).toMatch(expected);
      });
    }
  });
});
