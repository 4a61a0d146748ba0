/**
 * Output references: how a pipeline names the model output behind each prediction field.
 *
 *   label                      the classifier's predicted label
 *   probabilities[1]           probability column 1 (a column index, whatever the class labels are)
 *   probabilities['fraud']     the probability of class 'fraud' (quoted: a class label; int64 labels
 *                              are written as their decimal text, probabilities['1'])
 *   value / value[0]           the regressor's output (column 0 unless given)
 *   output_probability[1]      any output by its ONNX name, with an optional column or class
 *
 * Parsed once at validate time; `resolveOutputs` then binds each reference to an output and column.
 */

export type ColumnSelector =
  | { readonly by: 'index'; readonly index: number }
  | { readonly by: 'class'; readonly label: string };

export type OutputRef =
  | { readonly kind: 'label' }
  | { readonly kind: 'probability'; readonly select: ColumnSelector }
  | { readonly kind: 'value'; readonly index: number | undefined }
  | { readonly kind: 'output'; readonly name: string; readonly select: ColumnSelector | undefined };

export type ParsedOutputRef =
  | { readonly ok: true; readonly ref: OutputRef }
  | {
      readonly ok: false;
      readonly message: string /** 0-based offset into the text */;
      readonly offset: number;
    };

const EXPECTED =
  "expected label, probabilities[<column>] or probabilities['<class>'], value, or an output name";
const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_.:/-]/;

function fail(message: string, offset: number): ParsedOutputRef {
  return { ok: false, message, offset };
}

/** Parse one output reference; never throws. */
export function parseOutputRef(text: string): ParsedOutputRef {
  let pos = 0;
  const skipSpace = () => {
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
  };
  skipSpace();
  if (pos === text.length) return fail(`empty output reference; ${EXPECTED}`, pos);
  const nameStart = pos;
  if (!NAME_START.test(text[pos]!)) return fail(`unexpected '${text[pos]}'; ${EXPECTED}`, pos);
  while (pos < text.length && NAME_CHAR.test(text[pos]!)) pos++;
  const name = text.slice(nameStart, pos);
  skipSpace();

  let select: ColumnSelector | undefined;
  let selectOffset = pos;
  if (pos < text.length && text[pos] === '[') {
    selectOffset = pos;
    pos++;
    skipSpace();
    const c = text[pos];
    if (c === "'" || c === '"') {
      const open = pos;
      pos++;
      let label = '';
      while (pos < text.length && text[pos] !== c) {
        if (text[pos] === '\\' && pos + 1 < text.length) pos++;
        label += text[pos];
        pos++;
      }
      if (pos >= text.length)
        return fail(`unterminated ${c === "'" ? 'single' : 'double'}-quoted class label`, open);
      pos++;
      select = { by: 'class', label };
    } else if (c !== undefined && /[0-9]/.test(c)) {
      const start = pos;
      while (pos < text.length && /[0-9]/.test(text[pos]!)) pos++;
      const index = Number(text.slice(start, pos));
      if (!Number.isSafeInteger(index)) return fail('column index is too large', start);
      select = { by: 'index', index };
    } else if (c === '-') {
      return fail('column index must be 0 or more', pos);
    } else {
      return fail("expected a column index like [1] or a quoted class label like ['fraud']", pos);
    }
    skipSpace();
    if (text[pos] !== ']')
      return fail(pos < text.length ? `expected ']' but found '${text[pos]}'` : "missing ']'", pos);
    pos++;
    skipSpace();
  }
  if (pos < text.length) return fail(`unexpected '${text[pos]}' after the reference`, pos);

  switch (name) {
    case 'label':
      if (select !== undefined)
        return fail("'label' takes no column: the label output has one value per row", selectOffset);
      return { ok: true, ref: { kind: 'label' } };
    case 'probabilities':
      if (select === undefined)
        return fail(
          "'probabilities' needs a column: probabilities[1] or probabilities['<class>']",
          selectOffset,
        );
      return { ok: true, ref: { kind: 'probability', select } };
    case 'value':
      if (select?.by === 'class')
        return fail("'value' takes a column index like value[0], not a class label", selectOffset);
      return { ok: true, ref: { kind: 'value', index: select?.index } };
    default:
      return { ok: true, ref: { kind: 'output', name, select } };
  }
}

function formatSelector(s: ColumnSelector | undefined): string {
  if (s === undefined) return '';
  return s.by === 'index' ? `[${s.index}]` : `['${s.label.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}']`;
}

/** The canonical text of a reference (parses back to the same reference). */
export function formatOutputRef(ref: OutputRef): string {
  switch (ref.kind) {
    case 'label':
      return 'label';
    case 'probability':
      return `probabilities${formatSelector(ref.select)}`;
    case 'value':
      return ref.index === undefined ? 'value' : `value[${ref.index}]`;
    case 'output':
      return `${ref.name}${formatSelector(ref.select)}`;
  }
}
