import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** Sealed values read `v1:<key id>:<iv>.<tag>.<ciphertext>` (base64url parts). */
const FORMAT =
  /^v1:([A-Za-z0-9_-]{1,16}):([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]*)$/;
const IV_BYTES = 12;

/** Never includes key material or the value: safe to log and to answer with. */
export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

interface Key {
  id: string;
  bytes: Buffer;
}

function parseKey(spec: string): Key {
  const colon = spec.indexOf(':');
  const bytes = Buffer.from(spec.slice(colon + 1), 'base64');
  if (colon < 1 || bytes.length !== 32) {
    throw new SecretBoxError('an encryption key must be <key id>:<32 bytes in base64>');
  }
  return { id: spec.slice(0, colon), bytes };
}

/** Stands in for APP_ENCRYPTION_KEY outside production; the log says so at start-up. */
const DEVELOPMENT_KEY = `dev:${createHash('sha256').update('showmebug-wecom development key').digest('base64')}`;

/**
 * AES-256-GCM for the secrets stored in PostgreSQL. Each value names the key that sealed it, so
 * keys rotate: the new key seals, old keys (APP_ENCRYPTION_OLD_KEYS) still open, and
 * `isCurrent` tells what to re-seal.
 */
export class SecretBox {
  private readonly current: Key;
  private readonly keys = new Map<string, Buffer>();

  constructor(currentKey: string, oldKeys: string[] = []) {
    this.current = parseKey(currentKey);
    for (const spec of oldKeys) {
      const key = parseKey(spec);
      this.keys.set(key.id, key.bytes);
    }
    this.keys.set(this.current.id, this.current.bytes);
  }

  static fromEnv(env: { APP_ENCRYPTION_KEY?: string; APP_ENCRYPTION_OLD_KEYS?: string }): {
    box: SecretBox;
    development: boolean;
  } {
    const old = env.APP_ENCRYPTION_OLD_KEYS?.split(',').filter(Boolean) ?? [];
    if (env.APP_ENCRYPTION_KEY) {
      return { box: new SecretBox(env.APP_ENCRYPTION_KEY, old), development: false };
    }
    return { box: new SecretBox(DEVELOPMENT_KEY, old), development: true };
  }

  get keyId(): string {
    return this.current.id;
  }

  seal(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.bytes, iv);
    cipher.setAAD(Buffer.from(this.current.id));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), body].map((b) => b.toString('base64url'));
    return `v1:${this.current.id}:${parts.join('.')}`;
  }

  open(sealed: string): string {
    const match = FORMAT.exec(sealed);
    if (!match) throw new SecretBoxError('a stored secret is not in the sealed format');
    const [, keyId, iv, tag, body] = match as unknown as [string, string, string, string, string];
    const key = this.keys.get(keyId);
    if (!key) {
      throw new SecretBoxError(
        `a stored secret was sealed with key "${keyId}", which is neither APP_ENCRYPTION_KEY nor in APP_ENCRYPTION_OLD_KEYS`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(keyId));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const plain = Buffer.concat([
        decipher.update(Buffer.from(body, 'base64url')),
        decipher.final(),
      ]);
      return plain.toString('utf8');
    } catch {
      throw new SecretBoxError(`a stored secret sealed with key "${keyId}" failed to decrypt`);
    }
  }

  /** False when the value was sealed with an old key and should be sealed again. */
  isCurrent(sealed: string): boolean {
    return FORMAT.exec(sealed)?.[1] === this.current.id;
  }
}

/** For compare-and-set on sealed values (the ciphertext differs every time). */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}
