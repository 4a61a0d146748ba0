import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { LOG_FORMAT_ENV, resolveLogFormat } from '../../../workers/observability/logger.js';
import { prettyDestination, prettyLine } from '../../../workers/observability/pretty.js';

/** What pino writes for one call, through the pretty destination. */
function prettyOf(log: (l: pino.Logger) => void, level = 'info', stacks = false): string[] {
  const out: string[] = [];
  const logger = pino(
    { level, base: { worker: '0' }, redact: { paths: ['token', '*.token'], censor: '***' } },
    prettyDestination({ write: (t: string) => out.push(t) }, { colour: false, stacks }),
  );
  log(logger);
  return out;
}

describe('pretty log lines', () => {
  it('shows time, level, message, then the fields as key=value (quoted when needed)', () => {
    const [line] = prettyOf((l) =>
      l.warn({ topic: 'crm.customers', retry_in_ms: 500, topics: ['a', 'b'], why: 'two words' }, 'Waiting.'),
    );
    assert.match(
      line!,
      /^\d\d:\d\d:\d\d\.\d{3} WARN {2}Waiting\. worker=0 topic=crm\.customers retry_in_ms=500 topics=a,b why="two words"\n$/,
    );
  });

  it('is never JSON, and keeps redaction', () => {
    const [line] = prettyOf((l) => l.info({ token: 'secret', sink: { token: 'x', table: 't' } }, 'Opened.'));
    assert.ok(!line!.trimStart().startsWith('{'), line);
    assert.ok(!line!.includes('secret'), line);
    assert.match(line!, /token=\*\*\* sink=\{"token":"\*\*\*","table":"t"\}/);
  });

  it("shows an error's message, its stack only at debug", () => {
    const err = new Error('boom');
    const [plain] = prettyOf((l) => l.error({ err }, 'Failed.'));
    assert.match(plain!, /ERROR Failed\. worker=0 err=boom\n$/);
    const [debug] = prettyOf((l) => l.error({ err }, 'Failed.'), 'debug', true);
    assert.match(debug!, /err=boom\nError: boom\n {4}at /);
  });

  it('colours the level only when asked', () => {
    const json = JSON.stringify({ level: 50, time: 0, msg: 'x' });
    const ESC = '\u001b';
    assert.ok(prettyLine(json, { colour: true, stacks: false }).includes(`${ESC}[31mERROR`));
    assert.ok(!prettyLine(json, { colour: false, stacks: false }).includes(ESC));
  });

  it('passes text that is not JSON through', () => {
    assert.equal(prettyLine('plain text\n', { colour: false, stacks: false }), 'plain text');
  });
});

describe('log format', () => {
  it('is pretty on a terminal and JSON otherwise, unless the flag or the environment says', () => {
    assert.equal(resolveLogFormat(undefined, {}, true), 'pretty');
    assert.equal(resolveLogFormat(undefined, {}, false), 'json');
    assert.equal(resolveLogFormat(undefined, { [LOG_FORMAT_ENV]: 'pretty' }, false), 'pretty');
    assert.equal(resolveLogFormat('json', { [LOG_FORMAT_ENV]: 'pretty' }, true), 'json');
    assert.equal(resolveLogFormat(undefined, { [LOG_FORMAT_ENV]: '' }, false), 'json');
  });

  it('names the setting and the choices when it is wrong', () => {
    assert.throws(
      () => resolveLogFormat('xml', {}, true),
      /--log-format: expected json or pretty, got 'xml'/,
    );
    assert.throws(
      () => resolveLogFormat(undefined, { [LOG_FORMAT_ENV]: 'text' }, true),
      /STREAMSCORE_LOG_FORMAT: expected json or pretty, got 'text'/,
    );
  });
});
