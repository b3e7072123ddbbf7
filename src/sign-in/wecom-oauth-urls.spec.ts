import { oauthAuthorizeUrl, qrLoginUrl } from './wecom-oauth-urls.js';

describe('WeCom OAuth URLs', () => {
  const params = {
    corpId: 'ww1234',
    agentId: 1000002,
    redirectUri: 'https://bridge.example.com/auth/wecom/callback',
    state: 'abc123',
  };

  it('builds the in-app authorize URL in the documented order, with #wechat_redirect', () => {
    expect(oauthAuthorizeUrl(params)).toBe(
      'https://open.weixin.qq.com/connect/oauth2/authorize?appid=ww1234' +
        '&redirect_uri=https%3A%2F%2Fbridge.example.com%2Fauth%2Fwecom%2Fcallback' +
        '&response_type=code&scope=snsapi_base&state=abc123&agentid=1000002#wechat_redirect',
    );
  });

  it('builds the QR login URL', () => {
    expect(qrLoginUrl(params)).toBe(
      'https://login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp&appid=ww1234' +
        '&agentid=1000002&redirect_uri=https%3A%2F%2Fbridge.example.com%2Fauth%2Fwecom%2Fcallback' +
        '&state=abc123',
    );
  });
});
