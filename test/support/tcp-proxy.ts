import { createServer, type Server, Socket } from 'node:net';

/**
 * A TCP proxy the test can cut: `pause()` drops every connection and refuses new ones (as a
 * stopped database would), `resume()` accepts again. Lets a test take Postgres away from one
 * worker without stopping the shared server under Debezium and other tests.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private paused = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    this.server = createServer((client) => {
      if (this.paused) {
        client.destroy();
        return;
      }
      const upstream = new Socket();
      upstream.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  pause(): void {
    this.paused = true;
    for (const s of this.sockets) s.destroy();
  }

  resume(): void {
    this.paused = false;
  }

  async stop(): Promise<void> {
    this.pause();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
