import type { INestApplication } from '@nestjs/common';
import * as wecom from '@wecom/crypto';
import fc from 'fast-check';
import request from 'supertest';

import { WeComCallbackService } from '../../src/wecom/callback/wecom-callback.service.js';
import type { WeComSimulator } from '../../tools/wecom-simulator/wecom-simulator.js';
import { servedRoutes } from '../security/route-inventory.js';
import { createTestApp, simulatorEnv, tokenFor } from '../support/test-app.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { report, caseSimulator } from './outbox-load.js';

/** Fixed by default so CI runs the same inputs; RELIABILITY_SEED=<n> explores others. */
const SEED = Number(process.env.RELIABILITY_SEED ?? 20261123);
const RUNS_PER_ROUTE = Number(process.env.RELIABILITY_RUNS_PER_ROUTE ?? 250);
const WRITE_METHODS = ['post', 'put', 'patch', 'delete'] as const;
type Method = (typeof WRITE_METHODS)[number];

// WeCom's documented sample callback settings ("回调配置").
const CALLBACK_TOKEN = 'QDG6eK';
const CALLBACK_AES_KEY = 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C';
const CORP = 'ww-sandbox';
/** A template card button tap as WeCom posts it (decrypted). */
const EVENT_FIELDS: Record<string, string> = {
  ToUserName: CORP,
  FromUserName: 'zhangsan',
  CreateTime: String(Math.floor(Date.now() / 1000)),
  MsgType: 'event',
  Event: 'template_card_event',
  EventKey: 'accept',
  TaskId: 'task-1',
  CardType: 'button_interaction',
  ResponseCode: 'rc-1',
  AgentID: '1000002',
};

/** Percent-encoded, or as it is when it holds a lone surrogate (then it is junk either way). */
function uriEncoded(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Percent-encoded for a query string; a lone surrogate becomes the three bytes a careless
 * encoder writes for it (`%ED%A0%80`), which are not UTF-8.
 */
function queryEncoded(value: string): string {
  let out = '';
  for (const ch of value) {
    const unit = ch.charCodeAt(0);
    if (ch.length === 1 && unit >= 0xd800 && unit <= 0xdfff) {
      out += [0xed, 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join('');
    } else out += encodeURIComponent(ch);
  }
  return out;
}

/**
 * A value nested `levels` deep (`{"a":[{"a":…}]}`). Kept as a count and written out as text by
 * `toJson`: JSON.parse takes thousands of levels, JSON.stringify (recursive) does not.
 */
class Deep {
  constructor(
    readonly levels: number,
    readonly leaf: string,
  ) {}

  toText(): string {
    let open = '';
    let close = '';
    for (let i = 0; i < this.levels; i++) {
      open += i % 2 ? '[' : '{"a":';
      close = (i % 2 ? ']' : '}') + close;
    }
    return open + JSON.stringify(this.leaf) + close;
  }
}

/** JSON.stringify, with each Deep value written out in place. */
function toJson(value: unknown): string {
  const deep: Deep[] = [];
  const text =
    JSON.stringify(value, (_, v: unknown) => {
      if (!(v instanceof Deep)) return v;
      deep.push(v);
      return `\u0001deep:${deep.length - 1}\u0001`;
    }) ?? '';
  return text.replace(/"\\u0001deep:(\d+)\\u0001"/g, (_, i: string) => deep[Number(i)]!.toText());
}

interface Route {
  method: Method;
  path: string;
}

interface Attempt {
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  contentType?: string;
  body?: string;
}

/** Every write route the running app serves under /api, plus the WeCom callback (from Fastify). */
function writeRoutes(app: INestApplication): Route[] {
  const routes = new Map<string, Route>();
  for (const { method, path } of servedRoutes(app)) {
    if (!path.startsWith('/api/') && path !== '/wecom/callback') continue;
    const lower = method.toLowerCase() as Route['method'];
    if (WRITE_METHODS.includes(lower)) routes.set(`${lower} ${path}`, { method: lower, path });
  }
  return [...routes.values()].sort((a, b) =>
    `${a.path} ${a.method}`.localeCompare(`${b.path} ${b.method}`),
  );
}

/** Every GET route under /api with the query parameters the OpenAPI document lists for it. */
function readRoutes(app: INestApplication, doc: OpenApiDoc): { path: string; params: string[] }[] {
  const routes = new Map<string, { path: string; params: string[] }>();
  for (const { method, path } of servedRoutes(app)) {
    if (method !== 'GET' || !path.startsWith('/api/')) continue;
    const op = doc.paths[path.replace(/:(\w+)/g, '{$1}')]?.get;
    const params = (op?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
    routes.set(path, { path, params });
  }
  return [...routes.values()].sort((a, b) => a.path.localeCompare(b.path));
}

/** Property names of the route's request body in the OpenAPI document, nested ones included. */
function bodyFields(doc: OpenApiDoc, route: Route): string[] {
  const op = doc.paths[route.path.replace(/:(\w+)/g, '{$1}')]?.[route.method];
  const names = new Set<string>();
  const seen = new Set<string>();
  const walk = (schema: Schema | undefined): void => {
    if (!schema) return;
    if (schema.$ref) {
      const name = schema.$ref.split('/').pop()!;
      if (seen.has(name)) return;
      seen.add(name);
      walk(doc.components?.schemas?.[name]);
      return;
    }
    for (const [key, child] of Object.entries(schema.properties ?? {})) {
      names.add(key);
      walk(child);
    }
    walk(schema.items);
    for (const s of [...(schema.allOf ?? []), ...(schema.oneOf ?? []), ...(schema.anyOf ?? [])])
      walk(s);
  };
  walk(op?.requestBody?.content?.['application/json']?.schema);
  return [...names];
}

interface Schema {
  $ref?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  allOf?: Schema[];
  oneOf?: Schema[];
  anyOf?: Schema[];
}
interface OpenApiDoc {
  paths: Record<
    string,
    Record<
      string,
      {
        requestBody?: { content?: Record<string, { schema?: Schema }> };
        parameters?: { name: string; in: string }[];
      }
    >
  >;
  components?: { schemas?: Record<string, Schema> };
}

describe('Case 5: random and malformed bodies on every write route', () => {
  let db: TestDatabase;
  let sim: WeComSimulator;
  let app: INestApplication;
  let admin: string;
  let tables: string[];
  const ids: string[] = [];
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = caseSimulator();
    await sim.start();
    app = await createTestApp({
      ...db.env,
      ...simulatorEnv(sim.url),
      WECOM_CALLBACK_TOKEN: CALLBACK_TOKEN,
      WECOM_CALLBACK_AES_KEY: CALLBACK_AES_KEY,
      THROTTLE_LIMIT: '1000000',
      // The JS-SDK route answers 503 without it (a deliberate "not configured").
      FRONTEND_URL: 'https://frontend.example.com',
    });
    admin = await tokenFor('admin-1', 'admin');

    // Real rows for the :id routes to hit, besides unknown and malformed ids.
    const mapping = await http()
      .post('/api/user-mappings')
      .auth(admin, { type: 'bearer' })
      .send({ platformUserId: 'u-1', wecomUserId: 'zhangsan' })
      .expect(201);
    const interview = await http()
      .post('/api/interviews')
      .auth(await tokenFor('u-1', 'admin', 'recruiter', 'interviewer'), { type: 'bearer' })
      .send({
        title: '后端 一面',
        candidate: { name: '李雷' },
        startsAt: new Date(Date.now() + 48 * 3600_000).toISOString(),
        durationMinutes: 60,
        roomUrl: 'https://www.showmebug.com/pads/FUZZ',
        interviewers: ['u-1'],
      })
      .expect(201);
    const message = await http()
      .post('/api/messages')
      .auth(admin, { type: 'bearer' })
      .send({ to: [{ wecomUserId: 'lisi' }], msgtype: 'text', text: { content: 'hi' } })
      .expect(202);
    ids.push(
      String(mapping.body.id),
      String(interview.body.interview.id),
      String(message.body.id),
      'u-1',
    );
    tables = (
      await db.ownerQuery<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
      )
    )
      .map((t) => t.name)
      // Rate-limit counters count every request by design, refused ones included.
      .filter((name) => name !== 'rate_limit_counters');
  });

  afterAll(async () => {
    await app?.close();
    await sim?.stop();
    await db?.drop();
  });

  /** Bodies each route accepts (routes not listed here get field-shaped junk only). */
  const validBodies = (): Record<string, Record<string, unknown>> => ({
    'POST /api/messages': {
      to: [{ platformUserId: 'u-1' }, { wecomUserId: 'lisi' }],
      msgtype: 'text',
      text: { content: '面试提醒' },
      idempotencyKey: 'fuzz-1',
    },
    'POST /api/user-mappings': { platformUserId: 'u-2', wecomUserId: 'lisi', language: 'en' },
    'POST /api/interviews': {
      title: '前端 二面',
      position: '前端工程师',
      candidate: { name: '韩梅梅', email: 'hmm@example.com' },
      startsAt: new Date(Date.now() + 72 * 3600_000).toISOString(),
      durationMinutes: 45,
      timezone: 'Asia/Shanghai',
      roomUrl: 'https://www.showmebug.com/pads/FUZZ2',
      interviewers: ['u-1'],
      observers: [],
    },
    'PATCH /api/interviews/:id': { title: '改名', durationMinutes: 90, version: 1 },
    'POST /api/interviews/:id/cancel': { reason: '候选人改期' },
    'POST /api/interviews/:id/rsvp': { response: 'accepted' },
  });

  /**
   * A digest of every table's contents, read as the owner (every stored row, whatever the
   * service's role may see): any row added, changed or removed changes it.
   */
  async function snapshot(): Promise<Record<string, string>> {
    const columns = tables.map(
      (t) =>
        `(SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '')
            FROM "${t}" x) AS "${t}"`,
    );
    const [row] = await db.ownerQuery<Record<string, string>>(`SELECT ${columns.join(', ')}`);
    return row;
  }

  // --- arbitraries --------------------------------------------------------------------------

  const huge = (n: number) => '界'.repeat(n);
  /** Text no column can hold, hidden inside ordinary text: NUL, lone surrogates of both kinds. */
  const poisoned = fc
    .tuple(
      fc.string({ unit: 'grapheme', maxLength: 12 }),
      fc.constantFrom('\u0000', '\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uDC00\uD800'),
      fc.string({ unit: 'grapheme', maxLength: 12 }),
    )
    .map((parts) => parts.join(''));
  /** Times at and past the edges: JavaScript's, PostgreSQL's, ours (1970-9999), and non-times. */
  const dateLike = fc.oneof(
    fc
      .date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true })
      .map((d) => d.toISOString()),
    fc.constantFrom(
      '-271821-04-20T00:00:00Z',
      '+275760-09-13T00:00:00Z',
      '-004713-11-24T00:00:00Z',
      '0000-01-01T00:00:00Z',
      '1969-12-31T23:59:59.999Z',
      '9999-12-31T23:59:59.999+08:00',
      '+010000-01-01T00:00:00Z',
      '2020-13-45',
      '2026-02-30T10:00:00Z',
      '99999999999999999',
      '-1',
      'abc',
      'Infinity',
    ),
  );
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.constantFrom('', ' ', '\u0000', '\uD800', '‮', 'null', 'NaN', '1e309', '{"'),
    fc.constant(huge(2_000)),
    poisoned,
    dateLike,
  );
  /** A value nested from just past our limit (32) to far past the stack's. */
  const deep = fc
    .tuple(fc.oneof(fc.integer({ min: 30, max: 40 }), fc.integer({ min: 1_000, max: 5_000 })), text)
    .map(([levels, leaf]) => new Deep(levels, leaf));
  const junk: fc.Arbitrary<unknown> = fc.oneof(
    { weight: 3, arbitrary: fc.anything({ maxDepth: 3, maxKeys: 5 }) },
    { weight: 2, arbitrary: text },
    {
      weight: 1,
      arbitrary: fc.constantFrom(null, true, 0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, [], {}),
    },
    { weight: 1, arbitrary: fc.array(text, { maxLength: 30 }) },
    { weight: 1, arbitrary: deep },
  );
  /** Rarely: a value past the 256 kB body limit or a column's size. */
  const oversized = fc.constantFrom(huge(70_000), 'x'.repeat(300_000));
  const pathId = () =>
    fc.oneof(
      fc.constantFrom(...ids),
      fc.uuid(),
      fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 60 }),
      fc.constantFrom('..', '%00', '%E4%B8', '-1', '0', ' '),
    );
  /** An object with the route's own field names (deeply too) holding junk, or valid-looking keys. */
  const shaped = (fields: string[]): fc.Arbitrary<unknown> => {
    const key = fc.oneof(
      { weight: 4, arbitrary: fields.length ? fc.constantFrom(...fields) : fc.string() },
      { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'x') },
      { weight: 1, arbitrary: poisoned },
    );
    const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
      tree: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        junk,
        fc.dictionary(key, tie('tree'), { maxKeys: 6 }),
        fc.array(tie('tree'), { maxLength: 4 }),
      ),
    }));
    return fc.dictionary(key, tree, { minKeys: 1, maxKeys: 8 });
  };
  const contentType = fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'text/xml',
    'application/xml',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=----x',
    'application/octet-stream',
    'application/json; charset=latin1',
    'application/json; charset=no-such',
  );
  const malformedJson = fc.oneof(
    fc.json().map((j) => j.slice(0, Math.max(0, j.length - 1 - (j.length % 3)))),
    fc.json().map((j) => `${j}}`),
    fc.constantFrom(
      '{',
      '{"a":',
      '[1,2',
      '{"a":1,}',
      "{'a':1}",
      'undefined',
      '\uFEFF{}',
      '{"__proto__":{"x":1}}',
    ),
    text,
  );
  const form = fc
    .array(fc.tuple(text, text), { maxLength: 6 })
    .map((pairs) => pairs.map(([k, v]) => `${uriEncoded(k)}=${uriEncoded(v)}`).join('&'));

  /**
   * A valid body with one field (at any depth) replaced by junk, removed, or joined by an unknown
   * one: these get past the first checks, where a missing one would show as a 500.
   */
  const nearlyValid = (example: Record<string, unknown>): fc.Arbitrary<unknown> => {
    const paths: string[][] = [];
    const walk = (value: unknown, at: string[]) => {
      if (at.length > 0) paths.push(at);
      if (value && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) walk(v, [...at, k]);
      }
    };
    walk(example, []);
    if (paths.length === 0) return shaped(['x']);
    return fc
      .record({
        at: fc.constantFrom(...paths),
        op: fc.constantFrom('replace', 'replace', 'delete', 'add', 'poisonKey'),
        value: fc.oneof(junk, oversized),
        key: poisoned,
      })
      .map(({ at, op, value, key }) => {
        const copy = structuredClone(example) as Record<string, unknown>;
        let parent = copy as Record<string, unknown>;
        for (const k of at.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
        const last = at[at.length - 1];
        if (op === 'delete') delete parent[last];
        else if (op === 'add') parent[`${last}_extra`] = value;
        else if (op === 'poisonKey') parent[key] = value;
        else parent[last] = value;
        return copy;
      });
  };

  /** A request to an /api route: JSON junk, shaped junk, broken JSON or other media types. */
  const apiAttempt = (route: Route, fields: string[]): fc.Arbitrary<Attempt> => {
    const example = validBodies()[`${route.method.toUpperCase()} ${route.path}`];
    const json = (arb: fc.Arbitrary<unknown>) =>
      arb.map((b) => ({
        ct: 'application/json' as string | undefined,
        b: toJson(b),
      }));
    return fc
      .record({
        id: pathId(),
        ifMatch: fc.option(text, { nil: undefined }),
        body: fc.oneof(
          { weight: example ? 4 : 0, arbitrary: json(nearlyValid(example ?? {})) },
          { weight: 3, arbitrary: json(shaped(fields)) },
          { weight: 2, arbitrary: json(junk) },
          { weight: 2, arbitrary: malformedJson.map((b) => ({ ct: 'application/json', b })) },
          {
            weight: 1,
            arbitrary: form.map((b) => ({ ct: 'application/x-www-form-urlencoded', b })),
          },
          { weight: 2, arbitrary: fc.record({ ct: contentType, b: text }) },
          { weight: 1, arbitrary: json(oversized.map((s) => ({ s }))) },
          { weight: 1, arbitrary: fc.constant({ ct: undefined, b: undefined }) },
        ),
      })
      .map(({ id, ifMatch, body }): Attempt => ({
        path: route.path.replace(/:\w+/g, () => uriEncoded(id)),
        query: {},
        headers: ifMatch === undefined ? {} : { 'if-match': ifMatch },
        contentType: body.ct,
        body: body.b,
      }));
  };

  /** A WeCom callback: unsigned junk, or correctly signed and encrypted junk inside. */
  const callbackAttempt: fc.Arbitrary<Attempt> = fc
    .record({
      signed: fc.boolean(),
      inner: fc.oneof(
        text,
        // A real event's fields, some of them replaced by junk or left out.
        fc
          .record({
            replaced: fc.dictionary(fc.constantFrom(...Object.keys(EVENT_FIELDS)), text, {
              maxKeys: 3,
            }),
            dropped: fc.subarray(Object.keys(EVENT_FIELDS), { maxLength: 2 }),
          })
          .map(({ replaced, dropped }) => {
            const fields: Record<string, string> = { ...EVENT_FIELDS, ...replaced };
            for (const k of dropped) delete fields[k];
            return `<xml>${Object.entries(fields)
              .map(([k, v]) => `<${k}><![CDATA[${v.replaceAll(']]>', '')}]]></${k}>`)
              .join('')}</xml>`;
          }),
      ),
      corp: fc.constantFrom(CORP, CORP, CORP, 'ww-other', ''),
      timestamp: fc.oneof(
        fc.constant(() => String(Math.floor(Date.now() / 1000))),
        fc.string({ unit: 'grapheme', maxLength: 12 }).map((t) => () => t),
      ),
      nonce: fc.string({ unit: 'grapheme', maxLength: 16 }),
      // Mostly the real envelope, so the signed ones reach decryption and the event parser.
      outer: fc.oneof(
        { weight: 4, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: text },
      ),
      ct: contentType,
    })
    .map(({ signed, inner, corp, timestamp, nonce, outer, ct }) => {
      const ts = timestamp();
      if (!signed) {
        return {
          path: '/wecom/callback',
          query: { msg_signature: nonce, timestamp: ts, nonce },
          headers: {},
          contentType: ct,
          body: outer ?? inner,
        };
      }
      const encrypt = wecom.encrypt(CALLBACK_AES_KEY, inner, corp);
      return {
        path: '/wecom/callback',
        query: {
          msg_signature: wecom.getSignature(CALLBACK_TOKEN, ts, nonce, encrypt),
          timestamp: ts,
          nonce,
        },
        headers: {},
        contentType: 'text/xml',
        body:
          outer ??
          `<xml><ToUserName><![CDATA[${corp}]]></ToUserName><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`,
      };
    });

  async function send(route: Route, a: Attempt): Promise<{ status: number; body: string }> {
    let req = http()[route.method](a.path).query(a.query).auth(admin, { type: 'bearer' });
    for (const [k, v] of Object.entries(a.headers)) {
      // A header value that HTTP cannot carry is a client error, not a request.
      if (/^[\t\x20-\x7e]*$/.test(v)) req = req.set(k, v);
    }
    if (a.contentType !== undefined) req = req.set('content-type', a.contentType);
    const res = a.body !== undefined ? await req.send(a.body) : await req;
    return { status: res.status, body: res.text?.slice(0, 300) ?? '' };
  }

  it('never answers 5xx and writes nothing on a 4xx', async () => {
    const startedAt = Date.now();
    const routes = writeRoutes(app);
    // The walk found the routes it must (it is the route table, not a list kept here).
    expect(routes.map((r) => `${r.method.toUpperCase()} ${r.path}`)).toEqual(
      expect.arrayContaining([
        'POST /api/messages',
        'POST /api/user-mappings',
        'DELETE /api/user-mappings/:id',
        'POST /api/interviews',
        'PATCH /api/interviews/:id',
        'POST /wecom/callback',
      ]),
    );
    const doc = (await http().get('/docs-json').expect(200)).body as OpenApiDoc;
    process.stdout.write(
      `[reliability] case 5 seed=${SEED} runs/route=${RUNS_PER_ROUTE} routes=${routes.length}\n`,
    );

    const statuses: Record<string, Record<number, number>> = {};
    for (const route of routes) {
      const name = `${route.method.toUpperCase()} ${route.path}`;
      const tally: Record<number, number> = (statuses[name] = {});
      const attempts =
        route.path === '/wecom/callback'
          ? callbackAttempt
          : apiAttempt(route, bodyFields(doc, route));
      let before = await snapshot();
      await fc.assert(
        fc.asyncProperty(attempts, async (attempt) => {
          const res = await send(route, attempt);
          // Callback handlers run after the answer: let them finish, so that what they write is
          // put down to the request that stored the event, not to the next one.
          await app.get(WeComCallbackService).whenIdle();
          tally[res.status] = (tally[res.status] ?? 0) + 1;
          if (res.status >= 500) {
            throw new Error(`${name} answered ${res.status}: ${res.body}`);
          }
          const after = await snapshot();
          if (res.status >= 400) {
            const changed = tables.filter((t) => before[t] !== after[t]);
            if (changed.length > 0) {
              throw new Error(`${name} answered ${res.status} but changed ${changed.join(', ')}`);
            }
          }
          before = after;
        }),
        { seed: SEED, numRuns: RUNS_PER_ROUTE, endOnFailure: true },
      );
    }
    report('case 5 bad-input', startedAt, { seed: SEED, statuses });
  }, 600_000);

  /** A cursor in our format (`<time>|<id>`, base64url) around times and ids PostgreSQL refuses. */
  const forgedCursor = fc
    .tuple(
      dateLike,
      fc.oneof(
        fc.uuid(),
        fc.constant('-'.repeat(36)),
        fc.string({ unit: fc.constantFrom(...'0123456789abcdef-'), minLength: 36, maxLength: 36 }),
        text,
      ),
    )
    .map(([at, id]) => Buffer.from(`${at}|${id}`).toString('base64url'));
  /** A value for a query parameter: a time, a number, a cursor, text, or nothing. */
  const queryValue = () =>
    fc.oneof(
      { weight: 3, arbitrary: dateLike },
      { weight: 2, arbitrary: forgedCursor },
      {
        weight: 2,
        arbitrary: fc.oneof(
          fc.integer().map(String),
          fc.double().map(String),
          fc.constantFrom('0', '-1', '201', '1e400', '99999999999999999999', 'true', '', '%'),
        ),
      },
      { weight: 2, arbitrary: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), poisoned) },
      { weight: 1, arbitrary: fc.constantFrom(...ids) },
    );
  /** A query string over the route's parameters (some twice, a few unknown), raw-encoded. */
  const queryString = (params: string[]) =>
    fc
      .array(
        fc.tuple(
          fc.oneof(
            { weight: 6, arbitrary: fc.constantFrom(...params, 'cursor', 'limit') },
            { weight: 1, arbitrary: fc.oneof(text, fc.constantFrom('since[]', 'a[b][c]')) },
          ),
          queryValue(),
        ),
        { minLength: 1, maxLength: 5 },
      )
      .map((pairs) => pairs.map(([k, v]) => `${queryEncoded(k)}=${queryEncoded(v)}`).join('&'));

  it('never answers 5xx to any query string on a list or read route', async () => {
    const startedAt = Date.now();
    const doc = (await http().get('/docs-json').expect(200)).body as OpenApiDoc;
    const routes = readRoutes(app, doc);
    expect(routes.map((r) => r.path)).toEqual(
      expect.arrayContaining(['/api/messages', '/api/interviews', '/api/user-mappings']),
    );
    expect(routes.find((r) => r.path === '/api/messages')?.params).toEqual(
      expect.arrayContaining(['since', 'cursor', 'limit', 'interviewId']),
    );
    const statuses: Record<string, Record<number, number>> = {};
    for (const route of routes) {
      const tally: Record<number, number> = (statuses[`GET ${route.path}`] = {});
      await fc.assert(
        fc.asyncProperty(pathId(), queryString(route.params), async (id, query) => {
          const path = route.path.replace(/:\w+/g, () => uriEncoded(id));
          const res = await http().get(`${path}?${query}`).auth(admin, { type: 'bearer' });
          tally[res.status] = (tally[res.status] ?? 0) + 1;
          if (res.status >= 500) {
            throw new Error(
              `GET ${path}?${query} answered ${res.status}: ${res.text.slice(0, 300)}`,
            );
          }
        }),
        { seed: SEED, numRuns: RUNS_PER_ROUTE, endOnFailure: true },
      );
    }
    report('case 5 bad-input queries', startedAt, { seed: SEED, statuses });
  }, 600_000);
});
