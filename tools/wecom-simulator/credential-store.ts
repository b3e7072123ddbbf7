import { createHash, randomBytes } from 'node:crypto';

export type CredentialCheck = 'valid' | 'unknown' | 'expired';

/**
 * How gettoken answers a repeat call while the last token is still valid:
 * - `reuse`: WeCom's documented behaviour (older gettoken page): the same token, `expires_in`
 *   the whole seconds it has left;
 * - `reuse-full-ttl`: the same token, but `expires_in` the full lifetime again (WeCom does not
 *   document which of the two it says, so a client must survive both);
 * - `fresh`: a new token on every call, older ones valid until their own expiry.
 */
export const TOKEN_MODES = ['reuse', 'reuse-full-ttl', 'fresh'] as const;
export type TokenMode = (typeof TOKEN_MODES)[number];

export function isTokenMode(value: unknown): value is TokenMode {
  return typeof value === 'string' && (TOKEN_MODES as readonly string[]).includes(value);
}

export type OAuthIdentity = { userid: string } | { openid: string };

const OAUTH_CODE_TTL_MS = 5 * 60_000;
export const TICKET_TTL_SECONDS = 7200;

/** Access tokens, JS-SDK tickets and OAuth codes, all timed by the simulator's clock. */
export class CredentialStore {
  /** token -> expiry (ms). Expired tokens stay so that they answer 42001, not 40014. */
  private readonly tokens = new Map<string, number>();
  private readonly tickets = new Map<string, number>();
  private readonly oauthCodes = new Map<string, { identity: OAuthIdentity; expiresAt: number }>();
  /** Everything ever handed out, revoked or not, so specs can grep logs for it. */
  private readonly history = { accessTokens: [] as string[], jsapiTickets: [] as string[] };

  /** The token the last gettoken handed out, per secret (a reset secret gets a new one). */
  private current?: { token: string; secret: string };

  /** gettoken: a token and the `expires_in` to report with it, as `mode` says. */
  issueToken(
    now: number,
    ttlSeconds: number,
    mode: TokenMode,
    secret: string,
  ): { token: string; expiresIn: number } {
    const last = this.current;
    if (mode !== 'fresh' && last?.secret === secret) {
      const expiresAt = this.tokens.get(last.token);
      if (expiresAt !== undefined && expiresAt > now) {
        const left = Math.floor((expiresAt - now) / 1000);
        return { token: last.token, expiresIn: mode === 'reuse' ? left : ttlSeconds };
      }
    }
    // Real tokens are long opaque url-safe strings; 96 random bytes give 128 characters.
    const token = randomBytes(96).toString('base64url');
    this.tokens.set(token, now + ttlSeconds * 1000);
    this.history.accessTokens.push(token);
    this.current = { token, secret };
    return { token, expiresIn: ttlSeconds };
  }

  /** When an issued token ends (ms), or undefined for one never issued or revoked. */
  tokenExpiry(token: string): number | undefined {
    return this.tokens.get(token);
  }

  checkToken(token: string, now: number): CredentialCheck {
    const expiresAt = this.tokens.get(token);
    if (expiresAt === undefined) return 'unknown';
    return expiresAt <= now ? 'expired' : 'valid';
  }

  issueTicket(now: number): string {
    const ticket = randomBytes(48).toString('base64url');
    this.tickets.set(ticket, now + TICKET_TTL_SECONDS * 1000);
    this.history.jsapiTickets.push(ticket);
    return ticket;
  }

  /** Invalidates every token and ticket, as WeCom may do at any time. */
  revoke(): void {
    this.current = undefined;
    this.tokens.clear();
    this.tickets.clear();
  }

  issueOAuthCode(identity: OAuthIdentity, now: number): string {
    const code = randomBytes(24).toString('base64url');
    this.oauthCodes.set(code, { identity, expiresAt: now + OAUTH_CODE_TTL_MS });
    return code;
  }

  /** Single use: the code is gone after this call, whatever the outcome. */
  redeemOAuthCode(code: string, now: number): OAuthIdentity | undefined {
    const entry = this.oauthCodes.get(code);
    if (!entry) return undefined;
    this.oauthCodes.delete(code);
    return entry.expiresAt > now ? entry.identity : undefined;
  }

  issued(): { accessTokens: string[]; jsapiTickets: string[] } {
    return {
      accessTokens: [...this.history.accessTokens],
      jsapiTickets: [...this.history.jsapiTickets],
    };
  }

  clear(): void {
    this.revoke();
    this.oauthCodes.clear();
    this.history.accessTokens.length = 0;
    this.history.jsapiTickets.length = 0;
  }
}

/** A stable external_userid for an openid, so repeated logins of one person look alike. */
export function externalUserIdFor(openid: string): string {
  return `wm${createHash('sha256').update(openid).digest('base64url').slice(0, 30)}`;
}
