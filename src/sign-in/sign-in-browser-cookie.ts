import { randomBytes } from 'node:crypto';

import type { FastifyReply, FastifyRequest } from 'fastify';

import { STATE_TTL_SECONDS } from './oauth-state.service.js';

const COOKIE_NAME = 'wecom_signin';
/** 32 random bytes, base64url. */
const VALUE_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/**
 * The cookie that ties a sign-in to the browser that started it (login CSRF): /auth/wecom/login
 * sets a random value the OAuth state commits to, and the callback refuses a state whose
 * browser does not send the same value. HttpOnly; SameSite=Lax because the return from WeCom is
 * a top-level cross-site GET (Strict would not be sent); Secure when PUBLIC_BASE_URL is https;
 * sent to the sign-in routes only.
 */
export class SignInBrowserCookie {
  /** Path, HttpOnly, Secure and SameSite, the same when set and when cleared. */
  private readonly attributes: string;

  /** `callbackUrl`: the OAuth redirect_uri; the cookie's path is its folder (/auth/wecom). */
  constructor(callbackUrl: string) {
    const url = new URL(callbackUrl);
    const path = url.pathname.replace(/\/[^/]*$/, '') || '/';
    this.attributes = `Path=${path}; HttpOnly${url.protocol === 'https:' ? '; Secure' : ''}; SameSite=Lax`;
  }

  /** The value this browser already holds (a second tab keeps the first working), or a new one. */
  valueFor(req: Pick<FastifyRequest, 'headers'>): string {
    return this.read(req) ?? randomBytes(32).toString('base64url');
  }

  /** The value is base64url (VALUE_FORMAT), which a cookie carries as it is. */
  set(reply: Pick<FastifyReply, 'header'>, value: string): void {
    const expires = new Date(Date.now() + STATE_TTL_SECONDS * 1000).toUTCString();
    reply.header(
      'Set-Cookie',
      `${COOKIE_NAME}=${value}; Max-Age=${STATE_TTL_SECONDS}; ${this.attributes}; Expires=${expires}`,
    );
  }

  /** The value this browser sent, if it is one we could have set. */
  read(req: Pick<FastifyRequest, 'headers'>): string | undefined {
    const header = req.headers.cookie;
    if (typeof header !== 'string') return undefined;
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq === -1 || part.slice(0, eq).trim() !== COOKIE_NAME) continue;
      const value = part.slice(eq + 1).trim();
      if (VALUE_FORMAT.test(value)) return value;
    }
    return undefined;
  }

  clear(reply: Pick<FastifyReply, 'header'>): void {
    reply.header(
      'Set-Cookie',
      `${COOKIE_NAME}=; ${this.attributes}; Expires=Thu, 01 Jan 1970 00:00:00 GMT`,
    );
  }
}
