import assert from 'node:assert/strict';
import { PipelineError } from '../../../workers/core/errors.js';

/**
 * Checks the SINK_TABLE_MISSING error of a sink whose create_table is true: it says the sink created
 * the table and then found none, and never tells the user to set create_table (already set).
 */
export function missingDespiteCreateTable(err: unknown): true {
  assert.ok(PipelineError.is(err), String(err));
  assert.equal(err.code, 'SINK_TABLE_MISSING', err.message);
  assert.match(err.message, /created table .* \(create_table: true\), then found no such table/);
  assert.doesNotMatch(err.message, /set create_table|create_table is false/);
  return true;
}
