import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { postgresGrants, sinkRole } from '../../../workers/sinks/postgres/grants.js';
import { planTable } from '../../../workers/sinks/postgres/table.js';
import { pgConfig, schema } from './fixtures.js';

describe('postgres sink grants (what `plan` prints for least privilege)', () => {
  test('by on_delete: DELETE and the tombstone table only in delete mode; CREATE only with create_table', () => {
    const grants = (o: Parameters<typeof pgConfig>[0]) =>
      postgresGrants(planTable(pgConfig(o), schema), 'scorer');
    assert.deepEqual(grants({ on_delete: 'delete', create_table: false }), [
      'GRANT USAGE ON SCHEMA "ml" TO "scorer";',
      'GRANT SELECT, INSERT, UPDATE, DELETE ON "ml"."scores" TO "scorer";',
      'GRANT SELECT, INSERT, UPDATE, DELETE ON "ml"."scores__tombstones" TO "scorer";',
    ]);
    for (const mode of ['mark', 'ignore'] as const) {
      assert.deepEqual(grants({ on_delete: mode, create_table: false }), [
        'GRANT USAGE ON SCHEMA "ml" TO "scorer";',
        'GRANT SELECT, INSERT, UPDATE ON "ml"."scores" TO "scorer";',
      ]);
    }
    assert.equal(
      grants({ on_delete: 'ignore', create_table: true }).at(-1),
      'GRANT CREATE ON SCHEMA "ml" TO "scorer"; -- create_table: true',
    );
  });

  test('COPY writes need TEMP: said under the grants', () => {
    const g = postgresGrants(planTable(pgConfig({ write_mode: 'auto' }), schema), 'scorer');
    assert.equal(g.at(-1), '-- COPY writes also need TEMP on the database (PUBLIC has it unless revoked)');
  });

  test('the role is the url’s user, quoted; a url without one gets a placeholder', () => {
    assert.equal(sinkRole('postgres://svc%20scorer:pw@db:5432/crm'), 'svc scorer');
    assert.equal(sinkRole('postgres://db:5432/crm'), '<sink role>');
    assert.equal(
      postgresGrants(planTable(pgConfig({ on_delete: 'ignore' }), schema), 'a"b')[0],
      'GRANT USAGE ON SCHEMA "ml" TO "a""b";',
    );
  });
});
