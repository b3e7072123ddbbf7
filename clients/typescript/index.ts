/**
 * The typed client of the ShowMeBug × WeCom API. schema.d.ts is generated from the service's
 * OpenAPI document (`npm run client:generate`; CI fails when it is stale); calls go through
 * openapi-fetch, so paths, parameters, bodies, answers and problem details are all typed.
 *
 *   const api = createClient({ baseUrl: 'https://wecom.example.com', token: () => jwt });
 *   const { data, error } = await api.GET('/api/interviews/{id}', { params: { path: { id } } });
 */
import createFetchClient, { type Client, type ClientOptions } from 'openapi-fetch';

import type { components, operations, paths } from './schema.js';

export type { components, operations, paths };
export type Schemas = components['schemas'];
/** Every error answer (RFC 9457 problem details, `application/problem+json`). */
export type ProblemDetails = Schemas['ProblemDetails'];
export type ApiClient = Client<paths>;

export interface CreateClientOptions extends Omit<ClientOptions, 'baseUrl'> {
  /** Where the service is, e.g. `https://wecom.example.com` (no trailing slash needed). */
  baseUrl: string;
  /** The platform JWT, read before every request (so a refreshed token is picked up). */
  token?: () => string | undefined | Promise<string | undefined>;
}

export function createClient({ baseUrl, token, ...options }: CreateClientOptions): ApiClient {
  const client = createFetchClient<paths>({ baseUrl: baseUrl.replace(/\/+$/, ''), ...options });
  if (token) {
    client.use({
      async onRequest({ request }) {
        const value = await token();
        if (value) request.headers.set('Authorization', `Bearer ${value}`);
        return request;
      },
    });
  }
  return client;
}
