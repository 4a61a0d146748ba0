/** A Debezium PostgreSQL connector capturing a table, as Kafka Connect describes it. */
export interface CapturingConnector {
  name: string;
  /** `<topic.prefix>.<schema>.<table>`. */
  topic: string;
}

interface ConnectorInfo {
  info?: { config?: Record<string, string> };
}

/** Whether a comma-separated Debezium include list (regular expressions, anchored) names `value`. */
function listed(list: string | undefined, value: string): boolean | undefined {
  if (list === undefined || list.trim() === '') return undefined;
  return list.split(',').some((p) => {
    try {
      return new RegExp(`^(?:${p.trim()})$`).test(value);
    } catch {
      return p.trim() === value;
    }
  });
}

/**
 * The Debezium PostgreSQL connectors of a Kafka Connect cluster that capture `schema.table` of
 * database `dbname`, with the topic each writes it to. Include lists are honoured (exclude lists
 * too); an unreachable cluster gives none.
 */
export async function connectorsCapturing(
  connectUrl: string,
  dbname: string,
  table: string,
): Promise<CapturingConnector[]> {
  let body: Record<string, ConnectorInfo>;
  try {
    const res = await fetch(`${connectUrl.replace(/\/$/, '')}/connectors?expand=info`, {
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) return [];
    body = (await res.json()) as Record<string, ConnectorInfo>;
  } catch {
    return [];
  }
  const schema = table.slice(0, table.indexOf('.'));
  const out: CapturingConnector[] = [];
  for (const [name, c] of Object.entries(body)) {
    const cfg = c.info?.config ?? {};
    if (!String(cfg['connector.class'] ?? '').includes('PostgresConnector')) continue;
    if (cfg['database.dbname'] !== dbname) continue;
    const prefix = cfg['topic.prefix'] ?? cfg['database.server.name'];
    if (prefix === undefined) continue;
    const tableIn = listed(cfg['table.include.list'], table);
    const tableOut = listed(cfg['table.exclude.list'], table);
    const schemaIn = listed(cfg['schema.include.list'], schema);
    const schemaOut = listed(cfg['schema.exclude.list'], schema);
    if (tableIn === false || tableOut === true || schemaIn === false || schemaOut === true) continue;
    out.push({ name, topic: `${prefix}.${table}` });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
