import { mkdirSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * PGlite served over the PostgreSQL wire protocol on a loopback port, so the embedded default
 * and a real server share one code path (the `pg` driver). PGlite is a single session: the
 * socket server multiplexes connections and keeps a transaction on the connection that opened
 * it, which is why advisory locks and SKIP LOCKED exclude nobody here.
 */
export class EmbeddedPostgres {
  private constructor(
    private readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    readonly url: string,
    readonly location: string,
  ) {}

  /** `dir` is a folder, or `memory://` for a throw-away database. */
  static async start(dir: string, maxConnections: number): Promise<EmbeddedPostgres> {
    const inMemory = dir.startsWith('memory://');
    const location = inMemory ? 'memory://' : resolve(dir);
    if (!inMemory) mkdirSync(location, { recursive: true });
    const db = await PGlite.create(inMemory ? undefined : location);
    const server = new PGLiteSocketServer({
      db,
      host: '127.0.0.1',
      port: 0,
      maxConnections: Math.max(maxConnections, 1) + 2,
    });
    await server.start();
    const port = EmbeddedPostgres.portOf(server);
    return new EmbeddedPostgres(
      db,
      server,
      `postgres://postgres@127.0.0.1:${port}/postgres`,
      location,
    );
  }

  private static portOf(server: PGLiteSocketServer): number {
    // The server object keeps its net.Server private; port 0 means "any free port", so ask it.
    const net = (server as unknown as { server?: { address(): AddressInfo | string | null } })
      .server;
    const address = net?.address();
    if (address && typeof address === 'object' && address.port > 0) return address.port;
    throw new Error('embedded PostgreSQL did not report its port');
  }

  async stop(): Promise<void> {
    await this.server.stop().catch(() => undefined);
    if (!this.db.closed) await this.db.close();
  }
}
