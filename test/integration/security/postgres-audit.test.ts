import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, it } from 'node:test';
import { auditedPipelines, recordControlEvent } from '../../../workers/audit/control-events.js';
import { auditObjects, dropAuditSql } from '../../../workers/audit/sql.js';
import { verifyAudit } from '../../../workers/audit/verify.js';
import { firstPostgres } from '../../../workers/spec/postgres-url.js';
import { runCli } from '../../support/cli.js';
import { fraudPipelineCopy } from '../../support/pipelines.js';
import { secureStack } from '../../support/secure-stack.js';
import { uniqueId, withPg } from '../../support/stack.js';

// The audit log of a pipeline whose postgres sink is reached over TLS, as the TLS-only role with a
// ${file:…} password, is reached the same way by the rollout events and `audit verify` (the first
// postgres sink's whole connection, not its url alone: the url without the password and TLS is
// refused by that role).
const stack = secureStack();
const id = uniqueId();
const audit = `streamscore_tls.audit_${id}`;
const file = fraudPipelineCopy(id, `fraud-tls-audit-${id}`, (doc) => {
  doc.setIn(['spec', 'sinks', 0, 'postgres', 'url'], '${DATABASE_TLS_URL}');
  doc.setIn(['spec', 'sinks', 0, 'postgres', 'password'], `\${file:${stack.pgPasswordFile}}`);
  doc.setIn(['spec', 'sinks', 0, 'postgres', 'tls'], { ca_file: '${STACK_CA_FILE}' });
  doc.setIn(['spec', 'audit', 'table'], audit);
});

after(async () => {
  await withPg(async (c) => {
    for (const sql of dropAuditSql(auditObjects(audit))) await c.query(sql);
  });
});

it('rollout events and audit verify reach a TLS-only audit log with the sink’s password and tls', async () => {
  const pipelines = auditedPipelines([file], () => true);
  assert.equal(pipelines.length, 1);
  const conn = firstPostgres(pipelines[0]!.pipeline)!;
  assert.equal(conn.tls?.mode, 'verify-full');
  assert.ok(conn.password !== undefined, 'the password from the file');
  const r = await recordControlEvent(pipelines, {
    type: 'pipeline',
    action: 'suspend',
    pipeline: pipelines[0]!.pipeline.metadata.name,
    by: 'alice',
    reason: 'tls test',
    at: new Date().toISOString(),
    id: randomUUID(),
  });
  assert.deepEqual(r.failed, []);
  const v = await verifyAudit(conn, audit);
  assert.deepEqual({ intact: v.intact, records: v.records }, { intact: true, records: 1 });
  const cli = await runCli(['audit', 'verify', file]);
  assert.equal(cli.code, 0, cli.output);
  assert.match(cli.output, /intact/);
});
