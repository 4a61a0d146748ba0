import { formatProblem } from '../spec/problems.js';
import type { GoldenResult } from './golden.js';
import type { FileResult } from './runner.js';

export interface Totals {
  files: number;
  cases: number;
  failed: number;
  updated: number;
  /** Files that could not run (problems) or whose golden check failed. */
  broken: number;
}

export function totals(results: readonly FileResult[]): Totals {
  const cases = results.flatMap((r) => r.cases);
  return {
    files: results.filter((r) => r.goldens === undefined).length,
    cases: cases.length,
    failed: cases.filter((c) => c.missing || c.mismatches.length > 0).length,
    updated: cases.filter((c) => c.updated).length,
    broken: results.filter(
      (r) =>
        r.problems.length > 0 ||
        (r.golden?.problems.length ?? 0) > 0 ||
        (r.goldens ?? []).some((g) => g.problems.length > 0),
    ).length,
  };
}

function goldenLine(g: GoldenResult): string {
  return g.problems.length === 0
    ? `  ✓ golden ${g.file}: ${g.rows} row(s) agree`
    : `  ✗ golden ${g.file}:\n${g.problems.map((p) => `      ${p}`).join('\n')}`;
}

/** The human report: one line per file, every failing case with its differences, then totals. */
export function textReport(results: readonly FileResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    if (r.goldens !== undefined) {
      out.push(`${r.goldens.every((g) => g.problems.length === 0) ? '✓' : '✗'} ${r.file}: golden checks`);
      for (const g of r.goldens) out.push(goldenLine(g));
      continue;
    }
    if (r.problems.length > 0) {
      out.push(`✗ ${r.file}: cannot run`);
      for (const p of r.problems) out.push(`  ${formatProblem(p)}`);
      continue;
    }
    const failing = r.cases.filter((c) => c.missing || c.mismatches.length > 0);
    const model = r.model ? ` (model ${r.model.name} ${r.model.version})` : '';
    out.push(
      `${failing.length === 0 ? '✓' : '✗'} ${r.file}${model}: ${r.cases.length - failing.length}/${r.cases.length} case(s) pass`,
    );
    for (const c of failing) {
      out.push(`  ✗ ${r.file}:${c.line}:${c.column}: ${c.name}`);
      if (c.missing) out.push('      no expect: write one, or run with --update to record what happens now');
      for (const m of c.mismatches) {
        const ev = m.event === undefined ? '' : `event ${m.event}: `;
        out.push(`      ${ev}${m.what}: expected ${m.expected}, got ${m.got}`);
      }
    }
    const updated = r.cases.filter((c) => c.updated);
    if (updated.length > 0)
      out.push(`  ↻ updated ${updated.length} expectation(s): ${updated.map((c) => c.name).join(', ')}`);
    if (r.golden !== undefined) out.push(goldenLine(r.golden));
  }
  const t = totals(results);
  out.push(
    `${t.cases - t.failed}/${t.cases} case(s) pass in ${t.files} file(s)${t.failed > 0 ? `, ${t.failed} failing` : ''}${t.broken > 0 ? `, ${t.broken} file(s) with problems` : ''}${t.updated > 0 ? `, ${t.updated} updated` : ''}`,
  );
  return `${out.join('\n')}\n`;
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JUnit XML: a testsuite per file, a testcase per case (plus the golden check); file problems as errors. */
export function junitReport(results: readonly FileResult[]): string {
  const t = totals(results);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="streamscore test" tests="${t.cases}" failures="${t.failed}" errors="${t.broken}">`,
  ];
  for (const r of results) {
    const failing = r.cases.filter((c) => c.missing || c.mismatches.length > 0).length;
    const goldens = [...(r.golden ? [r.golden] : []), ...(r.goldens ?? [])];
    const golden = goldens.length;
    const errors = r.problems.length > 0 ? 1 : 0;
    out.push(
      `  <testsuite name="${esc(r.file)}" tests="${r.cases.length + golden + errors}" failures="${failing + goldens.filter((g) => g.problems.length > 0).length}" errors="${errors}" time="${(r.ms / 1000).toFixed(3)}">`,
    );
    if (errors > 0) {
      out.push(`    <testcase classname="${esc(r.file)}" name="load">`);
      out.push(`      <error message="cannot run">${esc(r.problems.map(formatProblem).join('\n'))}</error>`);
      out.push('    </testcase>');
    }
    for (const c of r.cases) {
      out.push(
        `    <testcase classname="${esc(r.file)}" name="${esc(c.name)}" file="${esc(r.file)}" line="${c.line}">`,
      );
      if (c.missing)
        out.push('      <failure message="no expect">no expect: write one, or run with --update</failure>');
      else if (c.mismatches.length > 0) {
        const lines = c.mismatches.map(
          (m) =>
            `${m.event === undefined ? '' : `event ${m.event}: `}${m.what}: expected ${m.expected}, got ${m.got}`,
        );
        out.push(`      <failure message="${esc(lines[0]!)}">${esc(lines.join('\n'))}</failure>`);
      }
      out.push('    </testcase>');
    }
    for (const g of goldens) {
      out.push(`    <testcase classname="${esc(r.file)}" name="golden ${esc(g.file)}">`);
      if (g.problems.length > 0) {
        out.push(`      <failure message="golden outputs differ">${esc(g.problems.join('\n'))}</failure>`);
      }
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}
