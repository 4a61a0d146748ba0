/** Function documentation, generated from the specs: FUNCTIONS.md is `renderFunctionDocs()` verbatim. */
import { FUNCTION_SPECS } from './functions/index.js';
import { type FunctionDoc, signatureOf, type Theme } from './functions/spec.js';

export const FUNCTIONS: readonly FunctionDoc[] = FUNCTION_SPECS.map((f) => ({
  name: f.name,
  theme: f.theme,
  signature: signatureOf(f),
  description: f.description,
  example: f.example,
  result: f.result,
}));

/** The fixed clock the documented examples run with: now() = 2024-03-15T12:00:00Z. */
export const EXAMPLE_NOW_MS = Date.UTC(2024, 2, 15, 12);

const THEMES: readonly [Theme, string][] = [
  ['math', 'Math'],
  ['null', 'Nulls'],
  ['string', 'Strings and conversions'],
  ['time', 'Time'],
  ['categorical', 'Categorical'],
];

const PREAMBLE = `# Feature expression functions

<!-- Generated from workers/expr/functions by renderFunctionDocs(); a unit test keeps this file in sync. -->

Feature expressions map a change event to a model input, e.g. \`log1p(coalesce(after.amount, 0))\`.

- **Fields** are paths from the record root: \`after.plan\`, \`before.plan\`, \`source.ts_ms\`, \`op\`,
  \`key.id\`, or a plain record's \`amount\`; \`after["odd name"]\` for names that are not identifiers.
  A missing field is null.
- **Operators**, loosest first, as in JavaScript: \`c ? a : b\`, \`||\`/\`or\`, \`&&\`/\`and\`, \`==\` \`!=\`,
  \`<\` \`<=\` \`>\` \`>=\`, \`+\` \`-\`, \`*\` \`/\` \`%\`, unary \`-\` \`!\`/\`not\`.
- **Nulls** propagate: an operator or function with a null argument gives null, except \`coalesce\`,
  \`if_null\`, \`is_null\`, \`one_hot\` (all zeros), \`==\`/\`!=\` (\`x == null\` tests for null) and
  \`&&\`/\`||\` (SQL three-valued logic: \`false && null\` is false). A null condition takes the else branch.
  Division or remainder by zero, and any result that is NaN or infinite, is null.
- **Timestamps** are epoch milliseconds, JS Dates or ISO-8601 strings (UTC unless they carry an offset);
  date parts are UTC. In arithmetic and comparisons a timestamp counts as its epoch milliseconds, and a
  Date or ISO-8601 string compared with a number is read as a timestamp.
- **Types** are checked when field types are known (from the input schema); otherwise at run time, where a
  value of the wrong type fails the record (it goes to the dead-letter topic).
- **Literal arguments**: bucket boundaries, one_hot categories and the hash_bucket count must be written
  in the expression.

Examples run with \`now()\` = 2024-03-15T12:00:00Z.
`;

export function renderFunctionDocs(): string {
  const sections = THEMES.map(([theme, title]) => {
    const entries = FUNCTIONS.filter((f) => f.theme === theme).map(
      (f) =>
        `### ${f.name}\n\n\`${f.signature}\`\n\n${f.description}\n\nExample: \`${f.example}\` → \`${f.result}\``,
    );
    return [`## ${title}`, ...entries].join('\n\n');
  });
  return `${PREAMBLE}\n${sections.join('\n\n')}\n`;
}
