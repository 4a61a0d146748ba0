import { suggestion } from '../core/suggest.js';
import { AUDIT_MIN_HASH_KEY_LENGTH, AUDIT_MIN_RETENTION_DAYS, type Pipeline } from './pipeline-schema.js';

type Add = (path: (string | number)[], code: string, message: string) => void;

/**
 * `spec.audit`: a postgres sink to keep it, a retention of at least 180 days, known feature names,
 * and a secret key of at least 16 characters when any feature is hashed.
 */
export function checkAuditSection(p: Pipeline, add: Add): void {
  const a = p.spec.audit;
  if (a === undefined) return;
  if (!p.spec.sinks.some((s) => 'postgres' in s)) {
    add(
      ['spec', 'audit'],
      'audit_without_postgres',
      'expected a postgres sink (the audit log is written in the same statement as its predictions), got none',
    );
  }
  if (a.retention_days < AUDIT_MIN_RETENTION_DAYS && !a.allow_short_retention) {
    add(
      ['spec', 'audit', 'retention_days'],
      'audit_retention_too_short',
      `expected at least ${AUDIT_MIN_RETENTION_DAYS} days (EU AI Act Art. 19, 26(6)), got ${a.retention_days}; set allow_short_retention: true to accept it`,
    );
  }
  const hashed = Object.entries(a.features)
    .filter(([, policy]) => policy === 'hash')
    .map(([name]) => name);
  if (a.default_policy === 'hash') hashed.push('every unlisted feature (default_policy)');
  const key = a.hash_key?.reveal();
  if (hashed.length > 0 && key === undefined) {
    add(
      ['spec', 'audit'],
      'audit_hash_without_key',
      `expected hash_key (a secret, e.g. \${file:/run/secrets/audit-hash-key}) since ${hashed.join(', ')} ${hashed.length === 1 ? 'is' : 'are'} under the hash policy, got none: an unkeyed hash of a small value set is reversed by trying every value`,
    );
  } else if (key !== undefined && key.length < AUDIT_MIN_HASH_KEY_LENGTH) {
    add(
      ['spec', 'audit', 'hash_key'],
      'audit_hash_key_too_short',
      `expected a key of at least ${AUDIT_MIN_HASH_KEY_LENGTH} characters, got ${key.length}`,
    );
  }
  const features = Object.keys(p.spec.features.map);
  for (const name of Object.keys(a.features)) {
    if (!features.includes(name)) {
      add(
        ['spec', 'audit', 'features', name],
        'unknown_feature',
        `expected a feature of features.map (${features.join(', ')}), got '${name}'${suggestion(name, features)}`,
      );
    }
  }
}
