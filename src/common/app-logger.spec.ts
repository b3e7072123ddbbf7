import { AppLogger } from './app-logger.js';

/** Runs `fn` with stdout and stderr captured; returns what was written. */
function captured(fn: () => void): string {
  const chunks: string[] = [];
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((s) => s.write);
  for (const stream of streams) {
    stream.write = ((chunk: unknown) => {
      chunks.push(String(chunk));
      return true;
    }) as typeof stream.write;
  }
  try {
    fn();
  } finally {
    streams.forEach((s, i) => (s.write = originals[i]!));
  }
  return chunks.join('');
}

const TOKEN = 'tok-3f9a1c77e2b04d6a';
const stack = `Error: GET https://qyapi.weixin.qq.com/cgi-bin/user/get?access_token=${TOKEN}&userid=zhangsan failed\n    at WeComClient.send (wecom.client.ts:1:1)`;

describe(AppLogger.name, () => {
  it.each(['json', 'pretty'] as const)(
    'redacts secret query parameters in the message and the stack (%s)',
    (format) => {
      const sut = new AppLogger(format, 'debug');
      const out = captured(() => {
        sut.error(`call failed: /cgi-bin/gettoken?corpid=ww1&corpsecret=${TOKEN}`, stack, 'Spec');
        sut.debug(`retrying /cgi-bin/message/send?access_token=${TOKEN}`, 'Spec');
        sut.error(`an error without a stack ?ticket=${TOKEN}`);
      });
      expect(out).toContain('call failed');
      expect(out).toContain('corpsecret=***');
      expect(out).toContain('retrying');
      expect(out).toContain('WeComClient.send');
      expect(out).toContain('an error without a stack');
      expect(out).not.toContain(TOKEN);
    },
  );

  it.each(['json', 'pretty'] as const)(
    'masks secret fields of an object message at any depth (%s)',
    (format) => {
      const sut = new AppLogger(format, 'debug');
      const out = captured(() =>
        sut.log({ outcome: 'ok', wecom: { access_token: TOKEN, corpSecret: TOKEN } }, 'Spec'),
      );
      expect(out).toContain('outcome');
      expect(out).not.toContain(TOKEN);
    },
  );
});
