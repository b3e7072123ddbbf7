/** The browser-facing WeCom sign-in pages (shared/wecom-api.md, "OAuth2 login inside WeCom"). */

export interface OAuthUrlParams {
  corpId: string;
  agentId: number;
  redirectUri: string;
  state: string;
}

/** Inside the WeCom app (mobile or desktop client): silent, snsapi_base. */
export function oauthAuthorizeUrl(p: OAuthUrlParams): string {
  const query = new URLSearchParams({
    appid: p.corpId,
    redirect_uri: p.redirectUri,
    response_type: 'code',
    scope: 'snsapi_base',
    state: p.state,
    agentid: String(p.agentId),
  });
  // The fragment is required, and the parameters must stay in this order.
  return `https://open.weixin.qq.com/connect/oauth2/authorize?${query.toString()}#wechat_redirect`;
}

/** From an ordinary desktop browser: the member scans a QR code with WeCom. */
export function qrLoginUrl(p: OAuthUrlParams): string {
  const query = new URLSearchParams({
    login_type: 'CorpApp',
    appid: p.corpId,
    agentid: String(p.agentId),
    redirect_uri: p.redirectUri,
    state: p.state,
  });
  return `https://login.work.weixin.qq.com/wwlogin/sso/login?${query.toString()}`;
}
