import { parseOutputRef } from '../inference/output-ref.js';
import type { StatPlan } from './accumulator.js';
import type { Distributions } from './reference.js';

/**
 * The stats one model version is monitored on: every feature column the manifest describes (by
 * name), and every prediction field whose output reference resolves to a described output
 * (`label`, `probabilities[<column>]`, `value`). Returns what is left unmonitored, by name.
 */
export function statPlans(args: {
  featureNames: readonly string[];
  outputFields: readonly string[];
  /** Prediction field → its output reference text (`spec.model.outputs`); defaults follow the field name. */
  outputRefs: Readonly<Record<string, string>> | undefined;
  distributions: Distributions;
}): { plans: StatPlan[]; unmonitored: string[] } {
  const d = args.distributions;
  const plans: StatPlan[] = [];
  const unmonitored: string[] = [];
  args.featureNames.forEach((name, col) => {
    const reference = d.features[name];
    if (reference === undefined) unmonitored.push(name);
    else plans.push({ name, role: 'feature', source: col, reference, referenceRows: d.rows });
  });
  const label = d.outputs['label'];
  const classes = label?.kind === 'categorical' ? label.values.map(String) : [];
  args.outputFields.forEach((field, index) => {
    const key = outputKey(args.outputRefs?.[field] ?? defaultRef(field), classes);
    const reference = key === undefined ? undefined : d.outputs[key];
    if (reference === undefined) unmonitored.push(field);
    else plans.push({ name: field, role: 'output', source: index, reference, referenceRows: d.outputRows });
  });
  return { plans, unmonitored };
}

/** The reference a default prediction field (no `outputs` map) stands for. */
function defaultRef(field: string): string {
  if (field.startsWith('probability_')) return `probabilities['${field.slice('probability_'.length)}']`;
  return field;
}

/** The manifest's key for an output reference: label, probabilities[<column>] or value. */
function outputKey(text: string, classes: readonly string[]): string | undefined {
  const parsed = parseOutputRef(text);
  if (!parsed.ok) return undefined;
  const ref = parsed.ref;
  const column = (select: { by: 'index'; index: number } | { by: 'class'; label: string }) =>
    select.by === 'index' ? select.index : classes.indexOf(select.label);
  switch (ref.kind) {
    case 'label':
      return 'label';
    case 'value':
      return ref.index === undefined || ref.index === 0 ? 'value' : undefined;
    case 'probability': {
      const c = column(ref.select);
      return c < 0 ? undefined : `probabilities[${c}]`;
    }
    case 'output': {
      if (ref.name === 'output_label') return ref.select === undefined ? 'label' : undefined;
      if (ref.name === 'variable')
        return ref.select === undefined || column(ref.select) === 0 ? 'value' : undefined;
      if (ref.name === 'output_probability' && ref.select !== undefined) {
        const c = column(ref.select);
        return c < 0 ? undefined : `probabilities[${c}]`;
      }
      return undefined;
    }
  }
}
