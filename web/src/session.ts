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
export function signInUrl(path: string, member?: string): string {
  const query = new URLSearchParams({ target: 'console', mode: 'qr', redirect: path || '/' });
  if (member) query.set('member', member);
  return `/auth/wecom/login?${query.toString()}`;
}
