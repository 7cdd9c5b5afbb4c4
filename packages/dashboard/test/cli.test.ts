import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { predict } from '@braintune/model-core';
import { readEnv } from '@braintune/protocol';
import { startDashboardServer, type DashboardServer } from '../src/index.js';
import { writeTinyCheckpoint } from './checkpoint.js';
import { runCli } from '../../cli/test/run-cli.js';
import { clearRedisPrefix, createTestDatabase, seedStudy } from './fixtures.js';

/** `braintune promote`, `models` and `predict --model` as processes, against a running dashboard API. */

const TOKEN = 'cli-token';

let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
let artifacts: string;
let server: DashboardServer;
let bestTrialId: string;
let scan: string;

/** `braintune ARGS` against the test server, with the API token unless `token` is null. */
function braintune(args: string[], token: string | null = TOKEN) {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'silent', BRAINTUNE_URL: server.url };
  if (token) env.BRAINTUNE_API_TOKEN = token;
  else delete env.BRAINTUNE_API_TOKEN;
  return runCli(args, env);
}
const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';

beforeAll(async () => {
  process.env.LOG_LEVEL ??= 'silent';
  tdb = await createTestDatabase(`bt_dash_cli_${process.pid}`);
  artifacts = await mkdtemp(join(tmpdir(), 'braintune-dash-cli-'));
  const seeded = await seedStudy(tdb.database.db, { studyId: 'st-cli', trials: 4, epochs: 3 });
  bestTrialId = seeded.bestTrialId;
  await writeTinyCheckpoint(join(artifacts, 'checkpoints', 'st-cli', bestTrialId.split(':')[1]!), {
    seed: 9,
  });
  scan = join(artifacts, 'scan.jpg');
  await sharp({ create: { width: 64, height: 64, channels: 3, background: '#222' } })
    .composite([
      {
        input: Buffer.from(
          '<svg width="64" height="64"><rect x="30" y="10" width="20" height="20" fill="#eee"/></svg>',
        ),
      },
    ])
    .jpeg()
    .toFile(scan);
  server = await startDashboardServer(
    readEnv({
      ...process.env,
      DATABASE_URL: tdb.url,
      ARTIFACT_ROOT: artifacts,
      BRAINTUNE_API_TOKEN: TOKEN,
      REDIS_URL: 'redis://127.0.0.1:6379/11',
      BRAINTUNE_QUEUE_PREFIX: `bt-dash-cli-${process.pid}`,
    }),
    { port: 0, migrate: false },
  );
});

afterAll(async () => {
  await server?.close();
  await clearRedisPrefix('redis://127.0.0.1:6379/11', `bt-dash-cli-${process.pid}`);
  await tdb?.drop();
  await rm(artifacts, { recursive: true, force: true });
});

describe('registry commands', () => {
  it('promote without the token fails with a hint and creates nothing', async () => {
    const r = await braintune(['promote', 'st-cli'], null);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/error: this action needs the API token/);
    expect(r.stderr).toMatch(/hint: set BRAINTUNE_API_TOKEN/);
    const models = await braintune(['models', '--json']);
    expect(JSON.parse(lastLine(models.stdout))).toEqual([]);
  });

  it('promote STUDY picks the best trial and sets the alias; models lists it', async () => {
    const r = await braintune(['promote', 'st-cli', '--model', 'brain-mri', '--alias', 'production']);
    expect(r.code).toBe(0);
    expect(JSON.parse(lastLine(r.stdout))).toMatchObject({
      model: 'brain-mri',
      version: 1,
      trialId: bestTrialId,
      alias: 'production',
    });
    const table = await braintune(['models']);
    expect(table.stdout).toMatch(/brain-mri {2}\[production→v1\]/);
    expect(table.stdout).toMatch(/v1 +st-cli:\d/);
  });

  it("predict --model NAME@ALIAS gives model-core's numbers for the promoted checkpoint", async () => {
    const r = await braintune(['predict', scan, '--model', 'brain-mri@production', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(lastLine(r.stdout)) as {
      version: number;
      predictions: { predicted: string; probabilities: Record<string, number> }[];
    };
    const direct = await predict(join(artifacts, 'checkpoints', 'st-cli', bestTrialId.split(':')[1]!), scan);
    expect(out.version).toBe(1);
    expect(out.predictions[0]!.predicted).toBe(direct.predicted);
    direct.classes.forEach((c, i) =>
      expect(out.predictions[0]!.probabilities[c]).toBeCloseTo(direct.probabilities[i]!, 6),
    );
  });

  it('predict --model with an unknown alias fails naming the aliases there are', async () => {
    const r = await braintune(['predict', scan, '--model', 'brain-mri@nightly']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no alias nightly/);
    expect(r.stderr).toMatch(/aliases: production/);
  });

  it('evaluate --model NAME@ALIAS scores a test folder like evaluate --checkpoint of the same checkpoint', async () => {
    const folder = join(artifacts, 'external');
    for (const [c, grey] of [
      ['glioma_tumor', 60],
      ['no_tumor', 20],
    ] as const) {
      await mkdir(join(folder, c), { recursive: true });
      for (let i = 0; i < 3; i++)
        await sharp({
          create: { width: 40, height: 40, channels: 3, background: { r: grey + 40 * i, g: grey, b: grey } },
        })
          .composite([
            {
              input: Buffer.from(
                `<svg width="40" height="40"><circle cx="${12 + 6 * i}" cy="20" r="8" fill="#ddd"/></svg>`,
              ),
            },
          ])
          .png()
          .toFile(join(folder, c, `scan ${i}.png`));
    }
    const viaApi = await braintune([
      'evaluate',
      '--model',
      'brain-mri@production',
      '--data',
      folder,
      '--json',
    ]);
    expect(viaApi.code, viaApi.stderr).toBe(0);
    const checkpoint = join(artifacts, 'checkpoints', 'st-cli', bestTrialId.split(':')[1]!);
    const local = await braintune(['evaluate', '--checkpoint', checkpoint, '--data', folder, '--json']);
    expect(local.code, local.stderr).toBe(0);
    const pick = (line: string) => {
      const { accuracy, macroF1, perClass, confusionMatrix, images, classes } = JSON.parse(line) as Record<
        string,
        unknown
      >;
      return { accuracy, macroF1, perClass, confusionMatrix, images, classes };
    };
    expect(pick(lastLine(viaApi.stdout))).toEqual(pick(lastLine(local.stdout)));
    expect(JSON.parse(lastLine(viaApi.stdout))).toMatchObject({ model: 'brain-mri', version: 1, images: 6 });
  });
});
