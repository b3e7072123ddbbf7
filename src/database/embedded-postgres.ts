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
    pinExtendedQueries(server, db);
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

/** What pglite-socket's query queue uses of the database. */
type QueuedDatabase = Pick<
  PGlite,
  'isInTransaction' | 'runExclusive' | 'execProtocolRawStream' | 'exec'
>;

/** Frontend messages of an extended-protocol query before its Sync: Parse, Bind, Describe, Execute, Close, Flush. */
const EXTENDED_QUERY_MESSAGES = new Set(['P', 'B', 'D', 'E', 'C', 'H'].map((c) => c.charCodeAt(0)));

/**
 * pglite-socket (0.2) queues every protocol message of every connection on the one session and
 * keeps a connection's messages together only while a transaction is open. An extended-protocol
 * query (Parse, Bind, Describe, Execute, then Sync) is in no transaction between its messages,
 * so another connection's message can run in the middle: its Parse replaces the unnamed
 * statement ("unnamed prepared statement does not exist"), or its simple-query START
 * TRANSACTION gets no answer and that connection waits for ever (electric-sql/pglite#1046).
 * Every read is a transaction of its own since the organisation is set per transaction, which
 * made it frequent. The queue is told a transaction is open from a connection's Parse to its
 * Sync, so it serves that connection alone until the query is over.
 */
function pinExtendedQueries(server: PGLiteSocketServer, db: PGlite): void {
  const queue = (server as unknown as { queryQueue?: { db?: QueuedDatabase } }).queryQueue;
  if (!queue?.db) throw new Error('pglite-socket changed: its query queue is not where expected');
  let midQuery = false;
  queue.db = {
    isInTransaction: () => midQuery || db.isInTransaction(),
    runExclusive: (work) => db.runExclusive(work),
    execProtocolRawStream: (message, options) => {
      midQuery = EXTENDED_QUERY_MESSAGES.has(message[0]!);
      return db.execProtocolRawStream(message, options);
    },
    // The queue's ROLLBACK for a connection that went away, mid-query or mid-transaction.
    exec: (query, options) => {
      midQuery = false;
      return db.exec(query, options);
    },
  };
}
