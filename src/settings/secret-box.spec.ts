import { randomBytes } from 'node:crypto';

import { SecretBox, SecretBoxError } from './secret-box.js';

const key = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

describe(SecretBox.name, () => {
  const k1 = key('k1');
  const k2 = key('k2');

  it('seals to a versioned value that names its key and opens again', () => {
    const box = new SecretBox(k1);
    const sealed = box.seal('corp-secret-value');
    expect(sealed).toMatch(/^v1:k1:/);
    expect(sealed).not.toContain('corp-secret-value');
    expect(box.seal('corp-secret-value')).not.toBe(sealed); // a fresh IV each time
    expect(box.open(sealed)).toBe('corp-secret-value');
    expect(box.isCurrent(sealed)).toBe(true);
  });

  it('opens values of an old key after a rotation and says they need sealing again', () => {
    const old = new SecretBox(k1).seal('s');
    const rotated = new SecretBox(k2, [k1]);
    expect(rotated.open(old)).toBe('s');
    expect(rotated.isCurrent(old)).toBe(false);
    expect(rotated.seal('s')).toMatch(/^v1:k2:/);
  });

  it.each([
    [
      'an unknown key',
      () => new SecretBox(k2).open(new SecretBox(k1).seal('plain-Xy9')),
      /key "k1"/,
    ],
    [
      'another key under the same id',
      () => new SecretBox(key('k1')).open(new SecretBox(k1).seal('s')),
      /failed to decrypt/,
    ],
    [
      'a changed ciphertext',
      () => {
        const sealed = new SecretBox(k1).seal('secret');
        const last = sealed.at(-1) === 'A' ? 'B' : 'A';
        return new SecretBox(k1).open(sealed.slice(0, -1) + last);
      },
      /failed to decrypt/,
    ],
    ['plaintext', () => new SecretBox(k1).open('not-sealed'), /not in the sealed format/],
  ])('refuses %s with an error that holds no key or value', (_label, open, message) => {
    let error: unknown;
    try {
      open();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SecretBoxError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(k1.slice(3));
    expect((error as Error).message).not.toContain('plain-Xy9');
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => new SecretBox(`k1:${randomBytes(16).toString('base64')}`)).toThrow(SecretBoxError);
  });
});
