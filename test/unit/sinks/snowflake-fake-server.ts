/**
 * A scripted stand-in for Snowflake's REST endpoints, just enough for snowflake-sdk to log in and run
 * statements. Unit tests use it to see what the real driver sends (auth, QUERY_TAG, binds) and the
 * real error objects it builds from Snowflake's error responses — what fakesnow does not check.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { SnowflakeTablePlan } from '../../../workers/sinks/snowflake/table.js';

export interface LoginRequest {
  data: Record<string, unknown>;
  query: URLSearchParams;
}

export interface QueryRequest {
  sqlText: string;
  bindings?: Record<string, { type: string; value: unknown }>;
  parameters?: Record<string, unknown>;
}

/** A reply: `{ status, body }`; a body with `success: false` is a Snowflake error. */
export interface Reply {
  status?: number;
  body: unknown;
}

export type Script = {
  login?: (req: LoginRequest) => Reply;
  query?: (req: QueryRequest) => Reply;
};

/** Snowflake's error body: `{ code, message, success: false, data: { errorCode, sqlState } }`. */
export function sfError(code: string, message: string, sqlState?: string): Reply {
  return {
    body: {
      data: { errorCode: code, ...(sqlState ? { sqlState } : {}), nextAction: null },
      code,
      message,
      success: false,
      headers: null,
    },
  };
}

/** A successful result with the given text columns and rows (JSON result format). */
export function sfRows(columns: string[] = [], rows: (string | null)[][] = []): Reply {
  return {
    body: {
      data: {
        parameters: [{ name: 'TIMEZONE', value: 'Etc/UTC' }],
        rowtype: columns.map((name) => ({
          name,
          type: 'text',
          nullable: true,
          length: 16777216,
          byteLength: 16777216,
          precision: null,
          scale: null,
        })),
        rowset: rows,
        total: rows.length,
        returned: rows.length,
        queryId: '01b00000-0000-0000-0000-000000000001',
        queryResultFormat: 'json',
        statementTypeId: 4096,
        version: 1,
      },
      code: null,
      message: null,
      success: true,
    },
  };
}

const loginOk: Reply = {
  body: {
    data: {
      token: 'session-token',
      masterToken: 'master-token',
      validityInSeconds: 3600,
      masterValidityInSeconds: 14400,
      serverVersion: '9.0.0',
      parameters: [{ name: 'CLIENT_STAGE_ARRAY_BINDING_THRESHOLD', value: 65280 }],
      sessionInfo: { databaseName: 'D', schemaName: 'S', warehouseName: 'W', roleName: 'R' },
    },
    code: null,
    message: null,
    success: true,
  },
};

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  let body = Buffer.concat(chunks);
  if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
  return body.length > 0 ? JSON.parse(body.toString('utf8')) : {};
}

export class FakeSnowflake {
  readonly logins: LoginRequest[] = [];
  readonly queries: QueryRequest[] = [];
  private server: Server | undefined;
  port = 0;

  constructor(private readonly script: Script = {}) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        (reply) => {
          res.writeHead(reply.status ?? 200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(reply.body));
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** Connection options of a sink config pointing at this server. */
  endpoint(): { account: string; host: string; port: number; protocol: 'http' } {
    return { account: 'acme-test', host: '127.0.0.1', port: this.port, protocol: 'http' };
  }

  private async handle(req: IncomingMessage): Promise<Reply> {
    const url = new URL(req.url ?? '/', 'http://x');
    const body = (await readJson(req)) as Record<string, unknown>;
    if (url.pathname === '/session/v1/login-request') {
      const login = { data: (body['data'] ?? {}) as Record<string, unknown>, query: url.searchParams };
      this.logins.push(login);
      return this.script.login?.(login) ?? loginOk;
    }
    if (url.pathname === '/queries/v1/query-request') {
      const q = body as unknown as QueryRequest;
      this.queries.push(q);
      return this.script.query?.(q) ?? sfRows();
    }
    if (url.pathname === '/session') return { body: { data: null, success: true } };
    return { status: 404, body: {} };
  }
}

const INFO_COLUMNS = [
  'TABLE_NAME',
  'COLUMN_NAME',
  'DATA_TYPE',
  'NUMERIC_PRECISION',
  'NUMERIC_SCALE',
  'IS_NULLABLE',
  'COLUMN_DEFAULT',
] as const;
const INFO_TYPES: Record<string, string> = {
  float: 'FLOAT',
  int: 'NUMBER',
  string: 'TEXT',
  bool: 'BOOLEAN',
  position: 'NUMBER',
  timestamp: 'TIMESTAMP_TZ',
};

/** What INFORMATION_SCHEMA.COLUMNS reports for the tables of a plan, as created by its DDL. */
export function informationSchemaRows(
  p: SnowflakeTablePlan,
): Record<(typeof INFO_COLUMNS)[number], string | null>[] {
  const rows = (table: string, cols: readonly { name: string; type: string }[]) =>
    cols.map((c) => {
      const num = c.type === 'int' || c.type === 'position';
      return {
        TABLE_NAME: table,
        COLUMN_NAME: c.name,
        DATA_TYPE: INFO_TYPES[c.type] ?? 'TEXT',
        NUMERIC_PRECISION: num ? '38' : null,
        NUMERIC_SCALE: num ? '0' : null,
        IS_NULLABLE: 'YES',
        COLUMN_DEFAULT: null,
      };
    });
  const tombstone = p.tombstone
    ? rows(p.tombstone.table, [
        ...p.keyColumns,
        { name: 'SOURCE_POSITION', type: 'position' },
        { name: 'DELETED_AT', type: 'timestamp' },
      ])
    : [];
  return [
    ...rows(p.table, [...p.columns, ...(p.deletedAt ? [{ name: p.deletedAt, type: 'timestamp' }] : [])]),
    ...tombstone,
  ];
}

/** `informationSchemaRows` as the JSON result Snowflake sends. */
export function informationSchemaReply(p: SnowflakeTablePlan): Reply {
  return sfRows(
    [...INFO_COLUMNS],
    informationSchemaRows(p).map((r) => INFO_COLUMNS.map((c) => r[c])),
  );
}
