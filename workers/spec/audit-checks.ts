import { suggestion } from '../core/suggest.js';
import { AUDIT_MIN_RETENTION_DAYS, type Pipeline } from './pipeline-schema.js';

type Add = (path: (string | number)[], code: string, message: string) => void;

/** `spec.audit`: a postgres sink to keep it, a retention of at least 180 days, known feature names. */
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
