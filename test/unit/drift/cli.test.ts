import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { announcedWorkers } from '../../../workers/cli/drift-command.js';

const dir = mkdtempSync(join(tmpdir(), 'streamscore-sd-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('streamscore drift finds the workers', () => {
  test("a pipeline's workers announced for Prometheus, not its supervisor nor other pipelines", () => {
    const group = (port: number, labels: Record<string, string>) =>
      `${JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels }])}\n`;
    writeFileSync(
      join(dir, 'streamscore-h-1-9464.json'),
      group(9464, { role: 'supervisor', pipelines: 'churn-scoring' }),
    );
    writeFileSync(
      join(dir, 'streamscore-h-2-4001.json'),
      group(4001, { role: 'worker', pipelines: 'churn-scoring' }),
    );
    writeFileSync(
      join(dir, 'streamscore-h-3-4002.json'),
      group(4002, { role: 'worker', pipelines: 'fraud-scoring,churn-scoring' }),
    );
    writeFileSync(
      join(dir, 'streamscore-h-4-4003.json'),
      group(4003, { role: 'worker', pipelines: 'fraud-scoring' }),
    );
    writeFileSync(join(dir, 'streamscore-h-5-4004.json'), '[{"targets": ["127.0.0.1:40'); // being written
    assert.deepEqual(announcedWorkers('churn-scoring', dir), ['127.0.0.1:4001', '127.0.0.1:4002']);
    assert.equal(announcedWorkers('demand-forecast', dir), undefined);
    assert.equal(announcedWorkers('churn-scoring', join(dir, 'missing')), undefined);
    assert.equal(announcedWorkers('churn-scoring', undefined), undefined);
  });
});
