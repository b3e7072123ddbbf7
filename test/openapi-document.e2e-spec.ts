import type { INestApplication } from '@nestjs/common';
import type { OpenAPIObject, OperationObject, ResponseObject, SchemaObject } from '@nestjs/swagger';
import request from 'supertest';

import { jsonSchemaPattern } from '../src/common/json-schema-pattern.js';
import { MSG_TYPES } from '../src/messaging/message-content.js';
import { createOpenApiDocument } from '../src/openapi/openapi-document.js';
import { WECOM_ID } from '../src/user-mappings/dto/user-mapping.dto.js';
import { TASK_ID_PATTERN, WECOM_LIMITS } from '../src/wecom/wecom-limits.js';
import { createTestApp } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

/** What the typed client is generated from: each promise a frontend relies on, checked. */
describe('The OpenAPI document', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let doc: OpenAPIObject;

  beforeAll(async () => {
    db = await createTestDatabase();
    app = await createTestApp(db.env);
    doc = createOpenApiDocument(app);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      (['get', 'put', 'post', 'delete', 'patch'] as const).flatMap((method) => {
        const op = item[method];
        return op ? [{ name: `${method.toUpperCase()} ${path}`, path, op }] : [];
      }),
    );
  const schema = (name: string): SchemaObject => doc.components!.schemas![name] as SchemaObject;
  const property = (owner: string, name: string): SchemaObject =>
    schema(owner).properties![name] as SchemaObject;
  const response = (op: OperationObject, status: number) =>
    op.responses[status] as ResponseObject | undefined;

  it('is what /docs-json serves', async () => {
    const served = await request(app.getHttpServer()).get('/docs-json').expect(200);
    expect(served.body).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  it('names every operation for a client, with a summary, and says how to authenticate', () => {
    const ids = operations().map(({ op }) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { name, path, op } of operations()) {
      expect([name, op.operationId]).toEqual([name, expect.stringMatching(/^[a-z][A-Za-z]+$/)]);
      expect([name, op.summary]).toEqual([name, expect.any(String)]);
      const isPublic = path === '/health' || path.startsWith('/auth/');
      expect([name, op.security]).toEqual([name, isPublic ? [] : [{ bearer: [] }]]);
      if (!isPublic) {
        expect([name, Object.keys(op.responses)]).toEqual([name, expect.arrayContaining(['401'])]);
      }
    }
  });

  it('types every API error as problem details', () => {
    for (const { name, path, op } of operations()) {
      if (!path.startsWith('/api/')) continue;
      for (const [status, answer] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        const content = (answer as ResponseObject).content;
        expect([name, status, Object.keys(content ?? {})]).toEqual([
          name,
          status,
          ['application/problem+json'],
        ]);
        expect(content!['application/problem+json'].schema).toEqual({
          $ref: '#/components/schemas/ProblemDetails',
        });
      }
    }
    expect(schema('ProblemDetails')).toMatchObject({
      required: ['type', 'title', 'status', 'detail'],
      additionalProperties: true,
    });
  });

  it('gives every success a typed body', () => {
    for (const { name, op } of operations()) {
      for (const [status, answer] of Object.entries(op.responses)) {
        if (!/^2\d\d$/.test(status) || status === '204') continue;
        const json = (answer as ResponseObject).content?.['application/json']?.schema;
        expect([name, status, json]).toEqual([name, status, expect.any(Object)]);
      }
    }
    expect(response(doc.paths['/api/me'].get!, 200)?.content).toBeDefined();
    expect(response(doc.paths['/health'].get!, 200)?.content).toBeDefined();
  });

  it('documents the sign-in start as the redirect it is', () => {
    const login = doc.paths['/auth/wecom/login'].get!;
    expect(Object.keys(login.responses)).not.toContain('200');
    expect(response(login, 302)?.headers).toHaveProperty('Location');
    expect(Object.keys(response(login, 400)?.content ?? {})).toEqual(['text/html']);
  });

  it('describes message bodies per msgtype with WeCom limits', () => {
    const body = doc.paths['/api/messages'].post!.requestBody as {
      content: Record<string, { schema: SchemaObject }>;
    };
    const send = body.content['application/json'].schema;
    expect(Object.keys(send.discriminator!.mapping!).sort()).toEqual([...MSG_TYPES].sort());
    expect(send.oneOf).toHaveLength(MSG_TYPES.length);
    expect(property('TextContentDto', 'content').maxLength).toBe(WECOM_LIMITS.contentBytes);
    expect(property('NewsContentDto', 'articles').maxItems).toBe(WECOM_LIMITS.newsArticlesMax);
    expect(property('ButtonInteractionCardDto', 'button_list').maxItems).toBe(
      WECOM_LIMITS.cardButtonsMax,
    );
    expect(property('CardMainTitleDto', 'title').maxLength).toBe(WECOM_LIMITS.cardMainTitleChars);
    expect(property('ButtonInteractionCardDto', 'task_id').pattern).toBe(TASK_ID_PATTERN.source);
    expect(schema('SendTemplateCardMessageDto').required).toEqual(
      expect.arrayContaining(['to', 'msgtype', 'template_card']),
    );
  });

  it('types the fields generated clients got wrong', () => {
    expect(property('UpdateAdminConfigDto', 'reminderLeadTimesMin')).toMatchObject({
      type: 'array',
      items: { type: 'integer' },
    });
    expect(property('UpdateAdminConfigDto', 'callbackToken')).toMatchObject({
      type: 'string',
      nullable: true,
    });
    const limit = doc.paths['/api/messages'].get!.parameters!.find(
      (p) => 'name' in p && p.name === 'limit',
    ) as { schema: SchemaObject };
    expect(limit.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 200 });
  });
});

describe(jsonSchemaPattern.name, () => {
  it('writes the i flag out, so a validator without flags agrees with the RegExp', () => {
    const sut = new RegExp(jsonSchemaPattern(WECOM_ID));
    for (const id of [
      'zhangsan',
      'Zhang.San@corp',
      '@all',
      '@ALL',
      '@All',
      'a|b',
      '',
      'x'.repeat(65),
    ])
      expect([id, sut.test(id)]).toEqual([id, WECOM_ID.test(id)]);
  });

  it('refuses a flag it cannot write out', () => {
    expect(() => jsonSchemaPattern(/^a$/m)).toThrow('only the i flag');
    expect(() => jsonSchemaPattern(/^[a-z]+$/i)).toThrow('both cases');
  });
});
