/**
 * The console's session: the admin JWT that the WeCom sign-in puts in the URL fragment
 * (`/admin/...#token=`). Kept in sessionStorage (this tab only, gone when it closes), never in a
 * cookie the API would accept by itself, and dropped when it expires or the API answers 401.
 */
const KEY = 'console.token';

type Listener = () => void;
const listeners = new Set<Listener>();

function expiry(token: string): number | null {
  try {
    const payload = token.split('.')[1];
    if (!payload) return null;
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch {
    return null;
  }
}

/** Takes a token handed over in the fragment, and removes it from the address bar. */
export function adoptTokenFromUrl(): void {
  const match = /^#token=([\w-]+\.[\w-]+\.[\w-]+)$/.exec(window.location.hash);
  if (!match) return;
  sessionStorage.setItem(KEY, match[1]!);
  history.replaceState(history.state, '', window.location.pathname + window.location.search);
}

export function currentToken(): string | undefined {
  const token = sessionStorage.getItem(KEY) ?? undefined;
  if (!token) return undefined;
  const exp = expiry(token);
  if (exp !== null && exp <= Date.now()) {
    signOut();
    return undefined;
  }
  return token;
}

export function signOut(): void {
  if (sessionStorage.getItem(KEY) === null) return;
  sessionStorage.removeItem(KEY);
  listeners.forEach((l) => l());
}

export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Where the WeCom sign-in starts; `member` only in sandbox mode (the service refuses it else). */
export function signInUrl(path: string, organization: string, member?: string): string {
  const query = new URLSearchParams({
    org: organization,
    target: 'console',
    mode: 'qr',
    redirect: path || '/',
  });
  if (member) query.set('member', member);
  return `/auth/wecom/login?${query.toString()}`;
}

const ORGANIZATION_KEY = 'console.organization';
/** An organisation's slug, as the service's ORGANIZATION_SLUG_PATTERN. */
export const SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/;
export const DEFAULT_ORGANIZATION = 'default';

/**
 * The organisation the sign-in page offers: `?org=` of the console's URL (a link an operator
 * hands out, /admin?org=acme), else the one signed in to last in this browser, else `default`.
 */
export function initialOrganization(): string {
  const fromUrl = new URLSearchParams(window.location.search).get('org');
  if (fromUrl && SLUG.test(fromUrl)) return fromUrl;
  const remembered = localStorage.getItem(ORGANIZATION_KEY);
  return remembered && SLUG.test(remembered) ? remembered : DEFAULT_ORGANIZATION;
}

/** Kept in localStorage: not a secret, and the next sign-in in this browser starts from it. */
export function rememberOrganization(slug: string): void {
  localStorage.setItem(ORGANIZATION_KEY, slug);
}
