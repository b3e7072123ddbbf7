import { parseApiTime } from './api-time.js';
import { InputShapePipe, MAX_INPUT_DEPTH } from './input-shape.pipe.js';
import { ValidationProblemException } from './validation-problem.js';

describe(InputShapePipe.name, () => {
  const sut = new InputShapePipe();
  const body = (value: unknown) => () => sut.transform(value, { type: 'body' });
  const message = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationProblemException);
      const [only, ...rest] = (error as ValidationProblemException).fieldErrors;
      expect(rest).toEqual([]);
      return `${only.field} | ${only.message}`;
    }
    throw new Error('not refused');
  };

  it('passes ordinary input through unchanged, emoji and CJK included', () => {
    const value = { to: [{ wecomUserId: 'zhangsan' }], text: { content: '面试 👍🏽 ok' } };
    expect(body(value)()).toBe(value);
  });

  it.each([
    [{ text: { content: 'a\u0000b' } }, 'text.content | text.content contains U+0000'],
    [
      { to: [{ wecomUserId: 'x' }, { wecomUserId: '\ud800' }] },
      'to[1].wecomUserId | to[1].wecomUserId contains a lone',
    ],
    [{ candidate: { name: 'x\udc00' } }, 'candidate.name | candidate.name contains a lone'],
    [{ text: { 'bad\u0000key': 1 } }, 'text | a key in text contains U+0000'],
    ['\udfff', ' | request body contains a lone'],
  ])('names the field of %j', (value, expected) => {
    expect(message(body(value))).toContain(expected);
  });

  it('names query parameters by their name', () => {
    const run = () => sut.transform({ since: ['ok', 'a\u0000'] }, { type: 'query' });
    expect(message(run)).toContain('since[1] | since[1] contains U+0000');
  });

  it(`refuses nesting past ${MAX_INPUT_DEPTH} levels without recursing (100 000 deep)`, () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = i % 2 ? [deep] : { a: deep };
    expect(message(body(deep))).toMatch(/nested more than 32 levels deep/);
    let ok: unknown = 'leaf';
    for (let i = 0; i < MAX_INPUT_DEPTH; i++) ok = { a: ok };
    expect(body(ok)()).toBe(ok);
    expect(message(body({ a: ok }))).toMatch(/nested more than/);
  });
});

describe(parseApiTime.name, () => {
  it.each([
    ['2026-11-24T10:00:00+08:00', '2026-11-24T02:00:00.000Z'],
    ['1970-01-01T00:00:00Z', '1970-01-01T00:00:00.000Z'],
    ['9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z'],
    ['2026-11-24', '2026-11-24T00:00:00.000Z'],
  ])('%s is %s', (text, iso) => {
    expect(parseApiTime(text)?.toISOString()).toBe(iso);
  });

  it.each([
    '1969-12-31T23:59:59Z',
    '-271821-04-20T00:00:00Z',
    '+275760-09-13T00:00:00Z',
    '+010000-01-01T00:00:00Z',
    '2020-13-45',
    '2026-02-30T00:00:00Z',
    '99999999999999999',
    'abc',
    '',
    ['2026-01-01T00:00:00Z'],
    1_700_000_000_000,
  ])('%p is refused', (value) => {
    expect(parseApiTime(value)).toBeUndefined();
  });
});
