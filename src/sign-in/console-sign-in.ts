/**
 * Sign-in to the admin console (/admin, #17) reuses the WeCom sign-in: the same state, cookie
 * and callback, a different destination and role. Only an organisation's console admins get a
 * console session, with the `admin` role in that organisation: the WeCom userids the platform
 * operator listed for it (`consoleAdmins`), and for `default` also those in CONSOLE_ADMINS (and,
 * in sandbox mode, the simulator's sandbox admin). WeCom authenticates the member, so the lists
 * name WeCom userids, not platform user ids (a mapping is made by admins and recruiters; it must
 * not grant a role).
 */

/** The simulator member the sandbox adds for the console's one-click sign-in. */
export const SANDBOX_ADMIN_USERID = 'sandbox-admin';

/** In sandbox mode this page of the service stands in for WeCom's authorize and QR pages. */
export const SANDBOX_AUTHORIZE_PATH = '/sandbox/wecom/authorize';

/** Where the console is served (src/console/console-static.ts). */
export const CONSOLE_BASE_PATH = '/admin';

/** Marks a stored state's redirect as a console path (the state's MAC covers it). */
const CONSOLE_REDIRECT = 'console:';

export function consoleRedirect(path: string): string {
  return `${CONSOLE_REDIRECT}${path}`;
}

/** The console path of a stored redirect, or null when the sign-in was for the frontend. */
export function consolePathOf(redirect: string): string | null {
  return redirect.startsWith(CONSOLE_REDIRECT) ? redirect.slice(CONSOLE_REDIRECT.length) : null;
}

/** CONSOLE_ADMINS as a set of lower-cased userids (WeCom compares userids without case). */
export function consoleAdmins(list: string | undefined, sandbox: boolean): Set<string> {
  const admins = new Set(
    (list ?? '')
      .split(',')
      .map((id) => id.trim().toLowerCase())
      .filter(Boolean),
  );
  if (sandbox) admins.add(SANDBOX_ADMIN_USERID);
  return admins;
}

/**
 * The platform identity of a console admin: their mapped platform user when they have one (so
 * the audit names them as the platform does), else `wecom:<userid>`.
 */
export function consoleSubject(wecomUserId: string, platformUserId: string | undefined): string {
  return platformUserId ?? `wecom:${wecomUserId}`;
}

/** The sandbox's stand-in for WeCom's sign-in pages (see tools/wecom-simulator/sandbox.ts). */
export function sandboxAuthorizeUrl(
  publicBase: string,
  p: { corpId: string; agentId: number; redirectUri: string; state: string; member?: string },
): string {
  const query = new URLSearchParams({
    appid: p.corpId,
    agentid: String(p.agentId),
    redirect_uri: p.redirectUri,
    state: p.state,
  });
  if (p.member) query.set('login_hint', p.member);
  return `${publicBase}${SANDBOX_AUTHORIZE_PATH}?${query.toString()}`;
}
