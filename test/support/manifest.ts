import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/** A registry version's manifest read as plain YAML (not through workers/models/catalog.ts): feature names and reference values. */
export function manifestYaml(versionDir: string): { features: string[]; reference: Record<string, number> } {
  const m = parse(readFileSync(join(versionDir, 'manifest.yaml'), 'utf8')) as {
    inputs: { features: string[] }[];
    reference: Record<string, number>;
  };
  return { features: m.inputs[0]!.features, reference: m.reference };
}
