import type { Command } from 'commander';
import { listModels } from '../registry/client.js';

const fmt = (v: unknown) => (typeof v === 'number' ? v.toFixed(3) : '—');

/** `braintune models [--json]`: registry models, versions, metrics and aliases. */
export function register(program: Command): void {
  program
    .command('models')
    .description('list the model registry: versions, their source trial, metrics and aliases')
    .option('--json', 'print JSON (last line)')
    .action(async (opts: { json?: boolean }) => {
      const models = await listModels();
      if (opts.json) {
        console.log(JSON.stringify(models));
        return;
      }
      if (models.length === 0) {
        console.log('no model yet: promote a trial with `braintune promote STUDY`');
        return;
      }
      for (const m of models) {
        const aliases = Object.entries(m.aliases)
          .map(([a, v]) => `${a}→v${v}`)
          .join(' ');
        console.log(`${m.name}${aliases ? `  [${aliases}]` : ''}`);
        const rows = m.versions.map((v) => {
          const glioma = Object.entries(v.metrics.recall ?? {}).find(([c]) => c.includes('glioma'));
          return [
            `v${v.version}`,
            v.members === null
              ? (v.trialId ?? '—')
              : `ensemble of ${v.members.length} (best ${v.trialId ?? '—'})`,
            fmt(v.metrics.valAccuracy),
            fmt(v.metrics.valMacroF1),
            glioma ? fmt(glioma[1]) : '—',
            v.metrics.calibration ? v.metrics.calibration.temperature.toFixed(2) : '—',
            v.metrics.calibration ? fmt(v.metrics.calibration.operatingPoint.threshold) : '—',
            v.aliases.join(',') || '',
            v.createdAt.slice(0, 19).replace('T', ' '),
            v.createdBy,
          ];
        });
        const header = [
          'version',
          'trial',
          'val acc',
          'macro-F1',
          'glioma rec',
          'T',
          'refer <',
          'aliases',
          'created',
          'by',
        ];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
        const line = (cells: string[]) => '  ' + cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
        console.log(line(header));
        for (const r of rows) console.log(line(r));
      }
    });
}
