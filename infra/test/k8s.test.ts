import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { EnvSchema, TRIAL_QUEUE } from '@braintune/protocol';
import { S3EnvSchema } from '@braintune/artifacts';
import { REPO_ROOT, checkInvocation } from './lib/cli.js';

const K8S_DIR = path.join(REPO_ROOT, 'infra/k8s');
const OTHER_APP_VARS = ['LOG_LEVEL', 'HEALTHCHECK_URL', 'TF_FORCE_GPU_ALLOW_GROWTH', 'NODE_ENV'];
const KNOWN_APP_VARS = new Set([
  ...Object.keys(EnvSchema.shape),
  ...Object.keys(S3EnvSchema.shape),
  ...OTHER_APP_VARS,
]);

type Obj = Record<string, unknown>;
type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Obj;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
};
type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
  };
};
type EnvFrom = {
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
};
type Probe = { httpGet?: { path: string; port: string | number }; tcpSocket?: { port: string | number } };
type Container = {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: EnvVar[];
  envFrom?: EnvFrom[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
};
type PodSpec = {
  containers: Container[];
  volumes?: Array<{ name: string; persistentVolumeClaim?: { claimName: string } }>;
};
type PodTemplate = { metadata?: { labels?: Record<string, string> }; spec: PodSpec };

/** Every YAML file of the directory as {file: text}. */
function readManifests(): Map<string, string> {
  return new Map(
    readdirSync(K8S_DIR)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => [f, readFileSync(path.join(K8S_DIR, f), 'utf8')]),
  );
}

function podTemplate(m: Manifest): PodTemplate | undefined {
  if (m.kind === 'Deployment' || m.kind === 'StatefulSet' || m.kind === 'DaemonSet')
    return m.spec?.template as PodTemplate;
  if (m.kind === 'Job') return (m.spec as { template: PodTemplate }).template;
  return undefined;
}

function portNames(c: Container): Set<string | number> {
  return new Set((c.ports ?? []).flatMap((p) => [p.containerPort, ...(p.name ? [p.name] : [])]));
}

/** Every problem in a set of manifest files; [] means they pass. */
export async function lintK8s(
  files: Map<string, string>,
  options: { checkCommands?: boolean } = {},
): Promise<string[]> {
  const problems: string[] = [];
  const kustomization = YAML.parse(files.get('kustomization.yaml') ?? '') as {
    resources?: string[];
    images?: Array<{ name: string }>;
    namespace?: string;
  } | null;
  if (!kustomization) return ['kustomization.yaml is missing'];
  const resources = kustomization.resources ?? [];
  for (const r of resources)
    if (!files.has(r)) problems.push(`kustomization lists ${r}, which does not exist`);
  for (const f of files.keys())
    if (f !== 'kustomization.yaml' && !resources.includes(f))
      problems.push(`${f} is not listed in kustomization.yaml`);
  const images = new Set((kustomization.images ?? []).map((i) => i.name));

  const manifests: Array<Manifest & { file: string }> = [];
  for (const file of resources) {
    const text = files.get(file);
    if (text === undefined) continue;
    for (const doc of YAML.parseAllDocuments(text)) {
      if (doc.errors.length) problems.push(`${file}: ${doc.errors[0]!.message}`);
      const m = doc.toJS() as Manifest | null;
      if (!m) continue;
      if (!m.apiVersion || !m.kind || !m.metadata?.name)
        problems.push(`${file}: a document without apiVersion, kind or metadata.name`);
      else manifests.push({ ...m, file });
    }
  }
  const byKind = (kind: string) => manifests.filter((m) => m.kind === kind);
  const find = (kind: string, name: string) =>
    manifests.find((m) => m.kind === kind && m.metadata.name === name);
  const seen = new Set<string>();
  for (const m of manifests) {
    const id = `${m.kind}/${m.metadata.name}`;
    if (seen.has(id)) problems.push(`${m.file}: ${id} is defined twice`);
    seen.add(id);
  }

  const configValues = new Map<string, string>();
  for (const cm of byKind('ConfigMap'))
    for (const [k, v] of Object.entries(cm.data ?? {})) configValues.set(k, v);
  const secretKeys = (name: string) => {
    const s = find('Secret', name);
    return s ? new Set([...Object.keys(s.data ?? {}), ...Object.keys(s.stringData ?? {})]) : undefined;
  };

  const invocations: Array<Promise<string[]>> = [];
  const workloads = manifests.filter((m) => podTemplate(m));
  for (const w of workloads) {
    const where = `${w.file}: ${w.kind}/${w.metadata.name}`;
    const tpl = podTemplate(w)!;
    const labels = tpl.metadata?.labels ?? {};
    if (w.kind !== 'Job') {
      const selector =
        (w.spec?.selector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels ?? {};
      if (Object.keys(selector).length === 0) problems.push(`${where}: no selector.matchLabels`);
      for (const [k, v] of Object.entries(selector))
        if (labels[k] !== v)
          problems.push(`${where}: selector ${k}=${v} does not match the pod template labels`);
    }
    const volumes = new Map((tpl.spec.volumes ?? []).map((v) => [v.name, v]));
    for (const v of volumes.values()) {
      if (v.persistentVolumeClaim && !find('PersistentVolumeClaim', v.persistentVolumeClaim.claimName))
        problems.push(
          `${where}: volume ${v.name} claims ${v.persistentVolumeClaim.claimName}, which is not defined`,
        );
    }
    for (const c of tpl.spec.containers) {
      const cw = `${where} container ${c.name}`;
      if (!images.has(c.image))
        problems.push(
          `${cw}: image ${c.image} is not one of the kustomization images (${[...images].join(', ')})`,
        );
      if (c.command) problems.push(`${cw}: overrides the braintune ENTRYPOINT (use args)`);
      if (options.checkCommands !== false) invocations.push(checkInvocation(c.args ?? [], cw));
      for (const mount of c.volumeMounts ?? [])
        if (!volumes.has(mount.name)) problems.push(`${cw}: mounts ${mount.name}, which is not a pod volume`);
      const ports = portNames(c);
      for (const probe of [c.readinessProbe, c.livenessProbe]) {
        const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
        if (port !== undefined && !ports.has(port))
          problems.push(`${cw}: a probe uses port ${port}, which the container does not declare`);
      }
      const names = new Set<string>();
      for (const e of c.env ?? []) {
        names.add(e.name);
        const sref = e.valueFrom?.secretKeyRef;
        if (sref && !sref.optional) {
          const keys = secretKeys(sref.name);
          if (!keys) problems.push(`${cw}: env ${e.name} reads Secret ${sref.name}, which is not defined`);
          else if (!keys.has(sref.key))
            problems.push(
              `${cw}: env ${e.name} reads key ${sref.key} that Secret ${sref.name} does not have`,
            );
        }
        const cref = e.valueFrom?.configMapKeyRef;
        if (cref && !cref.optional && !find('ConfigMap', cref.name)?.data?.[cref.key])
          problems.push(`${cw}: env ${e.name} reads ${cref.name}/${cref.key}, which is not defined`);
      }
      for (const from of c.envFrom ?? []) {
        if (from.configMapRef && !from.configMapRef.optional) {
          const cm = find('ConfigMap', from.configMapRef.name);
          if (!cm) problems.push(`${cw}: envFrom ConfigMap ${from.configMapRef.name} is not defined`);
          else Object.keys(cm.data ?? {}).forEach((k) => names.add(k));
        }
        if (from.secretRef) {
          const keys = secretKeys(from.secretRef.name);
          if (!keys && !from.secretRef.optional)
            problems.push(`${cw}: envFrom Secret ${from.secretRef.name} is not defined`);
          keys?.forEach((k) => names.add(k));
        }
      }
      for (const n of names)
        if (!KNOWN_APP_VARS.has(n)) problems.push(`${cw}: sets ${n}, which no braintune process reads`);
      const values = Object.fromEntries(
        [...names]
          .map((n) => [n, c.env?.find((e) => e.name === n)?.value ?? configValues.get(n) ?? ''])
          .filter(([, v]) => v !== ''),
      );
      const parsed = EnvSchema.safeParse(values);
      if (!parsed.success)
        problems.push(
          `${cw}: environment rejected by readEnv(): ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
      // Submission confines dataset paths to the data roots (coordinator, dashboard) and workers
      // read the raw images to prepare bundles: each of them must see every root.
      if (w.kind === 'Deployment' && ['coordinator', 'dashboard', 'worker'].includes(c.args?.[0] ?? ''))
        for (const root of (values.BRAINTUNE_DATA_ROOTS ?? '').split(':').filter(Boolean))
          if (!(c.volumeMounts ?? []).some((m) => root === m.mountPath || root.startsWith(`${m.mountPath}/`)))
            problems.push(`${cw}: does not mount the data root ${root} (BRAINTUNE_DATA_ROOTS)`);
      if (c.args?.[0] === 'worker') {
        if (names.has('DATABASE_URL')) problems.push(`${cw}: workers must not get database credentials`);
        if (!c.resources?.limits?.['nvidia.com/gpu'])
          problems.push(`${cw}: the worker does not request nvidia.com/gpu`);
        if (values.BRAINTUNE_BACKEND !== 'tensorflow-gpu')
          problems.push(`${cw}: BRAINTUNE_BACKEND is not tensorflow-gpu`);
      }
      if (
        (c.args?.[0] === 'coordinator' || c.args?.[0] === 'dashboard') &&
        !(names.has('DATABASE_URL') && names.has('BRAINTUNE_API_TOKEN'))
      ) {
        problems.push(`${cw}: needs DATABASE_URL and BRAINTUNE_API_TOKEN from the Secret`);
      }
    }
  }

  // Services select pods that exist, on ports those pods declare.
  for (const svc of byKind('Service')) {
    const spec = svc.spec as {
      type?: string;
      externalName?: string;
      selector?: Record<string, string>;
      ports?: Array<{ port: number; targetPort?: string | number }>;
    };
    if (spec.type === 'ExternalName') {
      if (!spec.externalName) problems.push(`${svc.file}: Service ${svc.metadata.name} has no externalName`);
      continue;
    }
    const pods = workloads.filter(
      (w) =>
        w.kind !== 'Job' &&
        Object.entries(spec.selector ?? {}).every(([k, v]) => podTemplate(w)!.metadata?.labels?.[k] === v),
    );
    if (!spec.selector || pods.length === 0) {
      problems.push(`${svc.file}: Service ${svc.metadata.name} selects no workload`);
      continue;
    }
    for (const p of spec.ports ?? []) {
      const target = p.targetPort ?? p.port;
      if (!pods.some((w) => podTemplate(w)!.spec.containers.some((c) => portNames(c).has(target))))
        problems.push(
          `${svc.file}: Service ${svc.metadata.name} targets port ${target}, which its pods do not declare`,
        );
    }
  }

  // Redis and Postgres are external services whose in-cluster names the settings use.
  const serviceNames = new Set(byKind('Service').map((s) => s.metadata.name));
  for (const [name, url] of [
    ['REDIS_URL', configValues.get('REDIS_URL')],
    ['DATABASE_URL', find('Secret', 'braintune-secrets')?.stringData?.DATABASE_URL],
  ] as const) {
    if (!url) {
      problems.push(`${name} is not set in the ConfigMap/Secret`);
      continue;
    }
    const host = new URL(url).hostname.split('.')[0]!;
    if (!serviceNames.has(host)) problems.push(`${name} points at host ${host}, which is not a Service`);
    else if ((find('Service', host)!.spec as { type?: string }).type !== 'ExternalName')
      problems.push(`${name}: Service ${host} should be an ExternalName (Redis and Postgres run outside)`);
  }

  const coordinator = find('Deployment', 'coordinator');
  if (!coordinator) problems.push('no coordinator Deployment');
  else {
    if (coordinator.spec?.replicas !== 1) problems.push('coordinator: must run exactly one replica');
    if ((coordinator.spec?.strategy as { type?: string } | undefined)?.type !== 'Recreate')
      problems.push('coordinator: strategy must be Recreate (never two at once)');
  }
  if (!find('Deployment', 'dashboard')) problems.push('no dashboard Deployment');

  // Autoscaling on the depth of the trial queue.
  const scaled = byKind('ScaledObject');
  if (scaled.length === 0) problems.push('no KEDA ScaledObject for the workers');
  for (const so of scaled) {
    const spec = so.spec as {
      scaleTargetRef?: { name: string };
      triggers?: Array<{ type: string; metadata: Record<string, string> }>;
    };
    const target = spec.scaleTargetRef?.name ?? '';
    const deployment = find('Deployment', target);
    if (!deployment)
      problems.push(
        `${so.file}: ScaledObject ${so.metadata.name} targets ${target}, which is not a Deployment`,
      );
    else if (podTemplate(deployment)!.spec.containers[0]?.args?.[0] !== 'worker')
      problems.push(`${so.file}: ScaledObject scales ${target}, which does not run workers`);
    const prefix = configValues.get('BRAINTUNE_QUEUE_PREFIX') ?? 'bull';
    for (const t of spec.triggers ?? []) {
      if (t.type === 'redis') {
        const expected = `${prefix}:${TRIAL_QUEUE}:wait`;
        if (t.metadata.listName !== expected)
          problems.push(
            `${so.file}: redis trigger watches ${t.metadata.listName}, BullMQ's wait list is ${expected}`,
          );
        const host = (t.metadata.address ?? '').split(':')[0]!;
        const [svc, ns] = host.split('.');
        if (!serviceNames.has(svc ?? '') || (ns && ns !== kustomization.namespace))
          problems.push(`${so.file}: redis trigger address ${host} is not the redis Service`);
      } else if (t.type === 'prometheus') {
        if (!/^sum\(braintune_queue_jobs\{[^}]*state=~"[^"]*prioritized[^"]*"/.test(t.metadata.query ?? '')) {
          problems.push(
            `${so.file}: prometheus trigger must count the trial queue's prioritized jobs (braintune_queue_jobs{state=~"…prioritized…"})`,
          );
        }
        if (!t.metadata.serverAddress || !t.metadata.threshold)
          problems.push(`${so.file}: prometheus trigger needs serverAddress and threshold`);
      } else {
        problems.push(`${so.file}: unexpected trigger type ${t.type}`);
      }
    }
  }
  const pvc = byKind('PersistentVolumeClaim').find((p) =>
    (p.spec as { accessModes?: string[] }).accessModes?.includes('ReadWriteMany'),
  );
  if (!pvc && !configValues.get('ARTIFACT_ROOT')?.startsWith('s3://'))
    problems.push('no shared artifact store: neither a ReadWriteMany PVC nor ARTIFACT_ROOT=s3://');

  problems.push(...(await Promise.all(invocations)).flat());
  return problems;
}

/** The metric the Prometheus trigger queries, if the dashboard already serves /metrics. */
function dashboardMetricSources(): string | undefined {
  const dir = path.join(REPO_ROOT, 'packages/dashboard/src');
  if (!existsSync(dir)) return undefined;
  const sources = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
  return sources.includes('prom-client') ? sources : undefined;
}

describe('infra/k8s manifests', () => {
  const files = readManifests();

  // A second opinion where kubectl is installed: kustomize renders the tree without a cluster.
  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!kubectl)('kubectl kustomize renders them, every object in the braintune namespace', () => {
    const result = spawnSync('kubectl', ['kustomize', K8S_DIR], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const docs = YAML.parseAllDocuments(result.stdout).map((d) => d.toJS() as Manifest);
    expect(docs.length).toBeGreaterThanOrEqual(12);
    for (const d of docs.filter((x) => x.kind !== 'Namespace'))
      expect((d.metadata as { namespace?: string }).namespace, `${d.kind}/${d.metadata.name}`).toBe(
        'braintune',
      );
    expect(docs.find((d) => d.metadata.name === 'worker' && d.kind === 'Deployment')).toBeDefined();
  });

  it('pass every check: kustomization, selectors, ports, images, CLI commands, secrets, volumes, GPU, autoscaling', async () => {
    expect(await lintK8s(files, { checkCommands: true })).toEqual([]);
  });

  it.skipIf(!dashboardMetricSources())(
    'the Prometheus trigger queries a metric, and labels, that the dashboard defines',
    () => {
      const query = /query: (.*)/.exec(files.get('worker-scaledobject.yaml')!)?.[1] ?? '';
      const [, metric, selector = ''] = /^sum\((\w+)(?:\{([^}]*)\})?/.exec(query) ?? [];
      expect(metric).toBeDefined();
      const sources = dashboardMetricSources()!;
      const at = sources.indexOf(`name: '${metric}'`);
      expect(at, `the dashboard defines no metric ${metric}`).toBeGreaterThanOrEqual(0);
      const labelNames = /labelNames: \[([^\]]*)\]/.exec(sources.slice(at, at + 400))?.[1] ?? '';
      for (const [, label] of selector.matchAll(/(\w+)\s*=~?/g))
        expect(labelNames, `label ${label} of ${metric}`).toContain(`'${label}'`);
    },
  );

  describe('the checks catch mistakes', () => {
    const mutate = (file: string, from: string | RegExp, to: string) => {
      const copy = new Map(files);
      const before = copy.get(file)!;
      const after = before.replace(from, to);
      expect(after, `mutation of ${file} must change it`).not.toBe(before);
      copy.set(file, after);
      return copy;
    };
    const cases: Array<[string, () => Map<string, string>, RegExp, boolean?]> = [
      [
        'a selector that matches no pod',
        () =>
          mutate(
            'dashboard.yaml',
            /(matchLabels:\n {6}app.kubernetes.io\/name: braintune\n {6}app.kubernetes.io\/component: )dashboard/,
            '$1dashbaord',
          ),
        /selector app.kubernetes.io\/component=dashbaord does not match/,
      ],
      [
        'a Service that selects nothing',
        () =>
          mutate(
            'coordinator.yaml',
            /(selector:\n {4}app.kubernetes.io\/name: braintune\n {4}app.kubernetes.io\/component: )coordinator/,
            '$1coordinater',
          ),
        /Service coordinator selects no workload/,
      ],
      [
        'a worker that cannot see the data sets it prepares',
        () =>
          mutate(
            'worker.yaml',
            /\n {12}- name: datasets\n {14}mountPath: \/datasets\n {14}readOnly: true/,
            '',
          ),
        /container worker: does not mount the data root \/datasets/,
      ],
      [
        'a missing secret key',
        () => mutate('dashboard.yaml', 'key: BRAINTUNE_API_TOKEN', 'key: API_TOKEN'),
        /reads key API_TOKEN that Secret braintune-secrets does not have/,
      ],
      [
        'a missing Secret',
        () => mutate('migrate-job.yaml', 'name: braintune-secrets', 'name: braintune-secret'),
        /reads Secret braintune-secret, which is not defined/,
      ],
      [
        'a wrong BullMQ list',
        () => mutate('worker-scaledobject.yaml', 'bull:braintune-trials:wait', 'bull:braintune-trial:wait'),
        /BullMQ's wait list is bull:braintune-trials:wait/,
      ],
      [
        'a worker without a GPU',
        () => mutate('worker.yaml', /( {12}limits:\n {14}memory: 16Gi\n) {14}nvidia.com\/gpu: 1\n/, '$1'),
        /does not request nvidia.com\/gpu/,
      ],
      [
        'an unlisted manifest',
        () => mutate('kustomization.yaml', '  - worker-scaledobject.yaml\n', ''),
        /worker-scaledobject.yaml is not listed/,
      ],
      [
        'a misspelt CLI command',
        () =>
          mutate(
            'worker.yaml',
            'args: ["worker", "--concurrency", "1"]',
            'args: ["wroker", "--concurrency", "1"]',
          ),
        /"braintune wroker" is not a CLI command/,
        true,
      ],
      [
        'an unknown image',
        () => mutate('dashboard.yaml', 'image: braintune\n', 'image: braintun\n'),
        /image braintun is not one of the kustomization images/,
      ],
      [
        'an undefined PVC',
        () => mutate('worker.yaml', 'claimName: braintune-artifacts', 'claimName: artifacts'),
        /claims artifacts, which is not defined/,
      ],
      [
        'a queue-depth query blind to prioritized jobs',
        () =>
          mutate(
            'worker-scaledobject.yaml',
            'state=~"waiting|prioritized|active"',
            'state=~"waiting|active"',
          ),
        /must count the trial queue's prioritized jobs/,
      ],
      [
        'two coordinators',
        () => mutate('coordinator.yaml', 'replicas: 1', 'replicas: 2'),
        /exactly one replica/,
      ],
      [
        'a probe on an undeclared port',
        () =>
          mutate(
            'dashboard.yaml',
            /path: \/readyz\n {14}port: http/,
            'path: /readyz\n              port: metrics',
          ),
        /port metrics, which the container does not declare/,
      ],
    ];
    for (const [name, make, expected, needsCli = false] of cases) {
      it(`flags ${name}`, async () => {
        expect((await lintK8s(make(), { checkCommands: needsCli })).join('\n')).toMatch(expected);
      });
    }
  });
});
