/**
 * Which browser URLs count as "our frontend" (FRONTEND_URL): same scheme, host and port, and a
 * path at or below FRONTEND_URL's path. Used for sign-in redirects and JS-SDK page URLs.
 */
export class FrontendUrl {
  private readonly base: URL;
  /** FRONTEND_URL's path without a trailing slash ('' for the root). */
  private readonly basePath: string;

  constructor(frontendUrl: string) {
    this.base = new URL(frontendUrl);
    this.basePath = this.base.pathname.replace(/\/+$/, '');
  }

  /** True when `candidate` is an absolute http(s) URL of a page under FRONTEND_URL. */
  contains(candidate: string): boolean {
    // Whitespace and control characters are stripped or rewritten by URL parsers.
    // eslint-disable-next-line no-control-regex
    if (/[\s\u0000-\u001f\u007f\\]/.test(candidate)) return false;
    let url: URL;
    try {
      url = new URL(candidate);
    } catch {
      return false;
    }
    if (url.username || url.password) return false;
    if (url.protocol !== this.base.protocol || url.host !== this.base.host) return false;
    return (
      this.basePath === '' ||
      url.pathname === this.basePath ||
      url.pathname.startsWith(`${this.basePath}/`)
    );
  }

  /**
   * FRONTEND_URL + path, for a path such as `/interviews/42?tab=notes`; null unless the path is
   * absolute (one leading slash, not `//` or `/\`, which browsers read as another host), has no
   * fragment (the token goes there), and stays under FRONTEND_URL once `..` is resolved.
   */
  resolvePath(path: unknown): string | null {
    if (typeof path !== 'string' || path.length === 0 || path.length > 1024) return null;
    if (!path.startsWith('/') || path.startsWith('//') || path.includes('#')) return null;
    const target = `${this.base.origin}${this.basePath}${path}`;
    // contains() checks the parsed path, where `/../admin` has already left FRONTEND_URL's path.
    return this.contains(target) ? new URL(target).href : null;
  }
}
