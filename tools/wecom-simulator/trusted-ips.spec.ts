import { parseTrustedIpsVariable, TrustedIps } from './trusted-ips.js';
import { WeComSimulator } from './wecom-simulator.js';

type Json = Record<string, any>;

describe(TrustedIps.name, () => {
  it('allows everyone until a list is set, then only its addresses and ranges', () => {
    const ips = new TrustedIps();
    expect(ips.allows('203.0.113.9')).toBe(true);
    ips.set(['203.0.113.9', '10.0.0.0/8', '2001:db8::/32']);
    expect(ips.allows('203.0.113.9')).toBe(true);
    expect(ips.allows('10.200.1.2')).toBe(true);
    expect(ips.allows('2001:db8::1')).toBe(true);
    expect(ips.allows('203.0.113.10')).toBe(false);
    expect(ips.allows('127.0.0.1')).toBe(false);
    expect(ips.allows('not-an-ip')).toBe(false);
    ips.set([]);
    expect(ips.allows('127.0.0.1')).toBe(true);
    expect(ips.get()).toBeNull();
  });

  it('refuses entries that are not addresses or ranges', () => {
    const ips = new TrustedIps();
    expect(() => ips.set(['10.0.0.0/33'])).toThrow(/prefix/);
    expect(() => ips.set(['example.com'])).toThrow(/not an IP address/);
    expect(() => ips.set(['1.2.3.4/8/1'])).toThrow(/not an IP address/);
  });

  it('reads SIMULATOR_TRUSTED_IPS as a comma list, unset or blank meaning all', () => {
    expect(parseTrustedIpsVariable(undefined)).toBeNull();
    expect(parseTrustedIpsVariable('  ')).toBeNull();
    expect(parseTrustedIpsVariable(' 1.2.3.4, 10.0.0.0/8 ,')).toEqual(['1.2.3.4', '10.0.0.0/8']);
  });
});

describe('WeComSimulator trusted IPs', () => {
  const sim = new WeComSimulator({ trustedIps: ['198.51.100.0/24'] });

  beforeAll(async () => {
    await sim.start();
  });
  afterAll(async () => {
    await sim.stop();
  });

  async function call(path: string, init?: RequestInit): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${sim.url}${path}`, init);
    return { status: res.status, body: (await res.json()) as Json };
  }
  const send = (token: string) =>
    call(`/cgi-bin/message/send?access_token=${token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        touser: 'zhangsan',
        msgtype: 'text',
        agentid: 1000002,
        text: { content: 'hi' },
      }),
    });

  it('issues tokens but refuses API calls from an untrusted address with 60020, naming it', async () => {
    const { body: tokenBody } = await call(
      '/cgi-bin/gettoken?corpid=ww-sandbox&corpsecret=sandbox-secret',
    );
    expect(tokenBody.errcode).toBe(0);
    const { status, body } = await send(tokenBody.access_token);
    expect(status).toBe(200);
    expect(body.errcode).toBe(60020);
    expect(body.errmsg).toMatch(
      /^not allow to access from your ip, hint: \[.+\], from ip: 127\.0\.0\.1, more info at /,
    );
    expect(sim.messagesFor('zhangsan')).toHaveLength(0);
  });

  it('is changed through the control API; 400 for a bad list', async () => {
    const put = (trustedIps: unknown) =>
      call('/__simulator/trusted-ips', {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ trustedIps }),
      });
    expect((await put(['127.0.0.1/32'])).body).toEqual({ trustedIps: ['127.0.0.1/32'] });
    const { body: tokenBody } = await call(
      '/cgi-bin/gettoken?corpid=ww-sandbox&corpsecret=sandbox-secret',
    );
    expect((await send(tokenBody.access_token)).body.errcode).toBe(0);

    const bad = await put(['not an ip']);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/not an IP address/);
    expect((await put('1.2.3.4')).status).toBe(400);
    expect((await call('/__simulator/trusted-ips')).body).toEqual({ trustedIps: ['127.0.0.1/32'] });

    expect((await put(null)).body).toEqual({ trustedIps: null });
  });
});
