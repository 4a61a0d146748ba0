import { execFileSync } from 'node:child_process';
import { createServer, type Server, Socket } from 'node:net';

interface Link {
  client: Socket;
  upstream: Socket;
  /** What arrived while stalled, in order, replayed by `resume()`. */
  held: (() => void)[];
  /** Bytes the client sent while stalled: a request it waits on. */
  heldBytes: number;
  /** Bytes the server sent while stalled: a response the client waits on. */
  heldResponseBytes: number;
  /** Whether the client's last bytes came after the server's last: a request awaits its answer. */
  awaitingAnswer: boolean;
}

/**
 * A TCP proxy the test can stall: `stall()` keeps every connection open and accepts new ones but
 * passes no byte either way, as a hung server or network does (a request in flight waits, it does
 * not fail); `resume()` delivers what was held, in order, even a request whose client died
 * meanwhile (the server then runs it late, as a real one may). Unlike TcpProxy's `pause()`, which
 * drops connections.
 */
export class StallProxy {
  private server: Server | undefined;
  private readonly links = new Set<Link>();
  private stalled = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    this.server = createServer({ allowHalfOpen: true }, (client) => {
      const upstream = new Socket({ allowHalfOpen: true });
      upstream.connect(this.targetPort, this.targetHost);
      const link: Link = {
        client,
        upstream,
        held: [],
        heldBytes: 0,
        heldResponseBytes: 0,
        awaitingAnswer: false,
      };
      this.links.add(link);
      const relay = (from: Socket, to: Socket, request: boolean) => {
        const pass = (step: () => void, bytes = 0) => {
          if (!this.stalled) return step();
          link.held.push(step);
          if (request) link.heldBytes += bytes;
          else link.heldResponseBytes += bytes;
        };
        from.on('data', (d: Buffer) => {
          link.awaitingAnswer = request;
          pass(() => to.write(d), d.length);
        });
        from.on('end', () => pass(() => to.end()));
        from.on('error', () => pass(() => to.destroy()));
        from.on('close', () => {
          if (client.destroyed && upstream.destroyed) this.links.delete(link);
        });
      };
      relay(client, upstream, true);
      relay(upstream, client, false);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
    for (const link of this.links) {
      const steps = link.held.splice(0);
      link.heldBytes = 0;
      link.heldResponseBytes = 0;
      for (const step of steps) step();
    }
  }

  /**
   * The processes whose requests wait on the stall: pids owning a client side whose request is
   * held, whose answer is held, or whose request went out before the stall and has had no answer
   * yet (on a loaded machine a stall often lands there: the client sends nothing more while it
   * waits, so counting held request bytes alone missed it).
   */
  waitingPids(): number[] {
    const pids = new Set<number>();
    for (const link of this.links) {
      const waiting = link.heldBytes > 0 || link.heldResponseBytes > 0 || link.awaitingAnswer;
      if (!this.stalled || !waiting || link.client.remotePort === undefined) continue;
      const filter = `( sport = :${link.client.remotePort} and dport = :${this.port} )`;
      const out = execFileSync('ss', ['-tnpH', 'state', 'established', filter]).toString();
      for (const m of out.matchAll(/pid=(\d+)/g)) pids.add(Number(m[1]));
    }
    return [...pids];
  }

  async stop(): Promise<void> {
    this.stalled = false;
    for (const link of this.links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
