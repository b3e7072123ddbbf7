import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

export type CallbackCryptoFailure =
  | 'bad_signature'
  | 'bad_aes_key'
  | 'bad_ciphertext'
  | 'bad_padding'
  | 'bad_length'
  | 'receiveid_mismatch';

const MESSAGES: Record<CallbackCryptoFailure, string> = {
  bad_signature: 'Callback signature does not match',
  bad_aes_key: 'EncodingAESKey is not 43 base64 characters decoding to 32 bytes',
  bad_ciphertext: 'Callback ciphertext is not valid base64 of whole AES blocks',
  bad_padding: 'Callback plaintext has invalid padding',
  bad_length: 'Callback plaintext length field is out of range',
  receiveid_mismatch: 'Callback is addressed to another receiver',
};

/** Never carries the key, the token or any plaintext: only which check failed. */
export class CallbackCryptoError extends Error {
  override name = 'CallbackCryptoError';

  constructor(readonly reason: CallbackCryptoFailure) {
    super(MESSAGES[reason]);
  }
}

export interface EncryptedCallbackRequest {
  msgSignature: string;
  timestamp: string;
  nonce: string;
  encrypt: string;
}

// WeCom pads to 32 bytes (not the AES block size of 16) in every official sample.
const PAD_BLOCK = 32;
const RANDOM_BYTES = 16;
const HEADER_BYTES = RANDOM_BYTES + 4;
const AES_BLOCK = 16;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// Not required to be canonical (last char's two low bits zero): WeCom picks the 43 characters
// at random and its own samples decode leniently.
const AES_KEY = /^[A-Za-z0-9+/]{43}$/;
const TIMESTAMP = /^\d{1,12}$/;
const REPLY_NONCE = /^[\x21-\x7e]{1,128}$/;

/**
 * WeCom's callback encryption scheme ("加解密方案"): msg_signature over the sorted
 * (token, timestamp, nonce, encrypt), AES-256-CBC with IV = key[0..16), PKCS#7 to 32 bytes,
 * plaintext = random(16) | length(4, BE) | message | receiveId.
 */
export class WeComCallbackCrypto {
  private readonly key: Buffer;
  private readonly iv: Buffer;
  private readonly receiveId: Buffer;

  constructor(
    private readonly token: string,
    encodingAesKey: string,
    receiveId: string,
  ) {
    if (typeof token !== 'string' || token.length === 0) {
      throw new TypeError('WeCom callback token must be a non-empty string');
    }
    if (typeof encodingAesKey !== 'string' || !AES_KEY.test(encodingAesKey)) {
      throw new CallbackCryptoError('bad_aes_key');
    }
    const key = Buffer.from(`${encodingAesKey}=`, 'base64');
    if (key.length !== 32) {
      throw new CallbackCryptoError('bad_aes_key');
    }
    if (typeof receiveId !== 'string') {
      throw new TypeError('WeCom callback receiveId must be a string');
    }
    this.key = key;
    this.iv = key.subarray(0, 16);
    // An empty receiveId is legitimate: WeCom uses it for some third-party app callbacks.
    this.receiveId = Buffer.from(receiveId, 'utf8');
  }

  signature(timestamp: string, nonce: string, encrypt: string): string {
    const joined = [this.token, timestamp, nonce, encrypt].sort().join('');
    return createHash('sha1').update(joined, 'utf8').digest('hex');
  }

  verifySignature(
    msgSignature: string,
    timestamp: string,
    nonce: string,
    encrypt: string,
  ): boolean {
    // Query values can arrive as arrays or be missing; treat anything odd as a mismatch.
    if (![msgSignature, timestamp, nonce, encrypt].every((v) => typeof v === 'string')) {
      return false;
    }
    const expected = Buffer.from(this.signature(timestamp, nonce, encrypt), 'utf8');
    const given = Buffer.from(msgSignature, 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  decrypt(encrypt: string): string {
    const ciphertext = decodeCiphertext(encrypt);
    const decipher = createDecipheriv('aes-256-cbc', this.key, this.iv);
    decipher.setAutoPadding(false);
    const padded = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    const plain = unpad(padded);

    if (plain.length < HEADER_BYTES) {
      throw new CallbackCryptoError('bad_length');
    }
    const messageLength = plain.readUInt32BE(RANDOM_BYTES);
    if (messageLength > plain.length - HEADER_BYTES) {
      throw new CallbackCryptoError('bad_length');
    }
    const messageEnd = HEADER_BYTES + messageLength;
    if (!plain.subarray(messageEnd).equals(this.receiveId)) {
      throw new CallbackCryptoError('receiveid_mismatch');
    }
    return plain.subarray(HEADER_BYTES, messageEnd).toString('utf8');
  }

  encrypt(message: string, random16: Buffer = randomBytes(RANDOM_BYTES)): string {
    if (!Buffer.isBuffer(random16) || random16.length !== RANDOM_BYTES) {
      throw new RangeError('random16 must be a 16-byte Buffer');
    }
    const body = Buffer.from(message, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length, 0);
    const plain = Buffer.concat([random16, length, body, this.receiveId]);
    const padLength = PAD_BLOCK - (plain.length % PAD_BLOCK);

    const cipher = createCipheriv('aes-256-cbc', this.key, this.iv);
    cipher.setAutoPadding(false);
    return Buffer.concat([
      cipher.update(Buffer.concat([plain, Buffer.alloc(padLength, padLength)])),
      cipher.final(),
    ]).toString('base64');
  }

  /** Signature first: never decrypt (and never reveal padding errors) for unauthenticated input. */
  decryptRequest({ msgSignature, timestamp, nonce, encrypt }: EncryptedCallbackRequest): string {
    if (!this.verifySignature(msgSignature, timestamp, nonce, encrypt)) {
      throw new CallbackCryptoError('bad_signature');
    }
    return this.decrypt(encrypt);
  }

  encryptReply(message: string, timestamp: string, nonce: string): string {
    // Both are echoed into the XML; refuse anything that could break out of it.
    if (!TIMESTAMP.test(timestamp)) {
      throw new RangeError('Reply timestamp must be 1 to 12 digits');
    }
    if (!REPLY_NONCE.test(nonce) || nonce.includes(']]>')) {
      throw new RangeError('Reply nonce must be 1 to 128 printable ASCII characters');
    }
    const encrypt = this.encrypt(message);
    const signature = this.signature(timestamp, nonce, encrypt);
    return (
      `<xml><Encrypt><![CDATA[${encrypt}]]></Encrypt>` +
      `<MsgSignature><![CDATA[${signature}]]></MsgSignature>` +
      `<TimeStamp>${timestamp}</TimeStamp>` +
      `<Nonce><![CDATA[${nonce}]]></Nonce></xml>`
    );
  }
}

/** WeCom timestamps are seconds; replayed callbacks outside the window are refused. */
export function isTimestampFresh(
  timestamp: string,
  nowMs: number,
  toleranceSeconds = 300,
): boolean {
  if (typeof timestamp !== 'string' || !TIMESTAMP.test(timestamp)) {
    return false;
  }
  return Math.abs(Number(timestamp) * 1000 - nowMs) <= toleranceSeconds * 1000;
}

function decodeCiphertext(encrypt: string): Buffer {
  // Buffer.from(.., 'base64') silently skips junk, so check the alphabet first.
  if (typeof encrypt !== 'string' || encrypt.length % 4 !== 0 || !BASE64.test(encrypt)) {
    throw new CallbackCryptoError('bad_ciphertext');
  }
  const bytes = Buffer.from(encrypt, 'base64');
  if (bytes.length === 0 || bytes.length % AES_BLOCK !== 0) {
    throw new CallbackCryptoError('bad_ciphertext');
  }
  return bytes;
}

/**
 * PKCS#7 with pad values 1..32. A ciphertext padded to 16-byte blocks also passes (its pad
 * bytes are a valid 1..16 run): WeCom's own @wecom/crypto and its samples accept it too, and
 * the signature, not the padding, is what authenticates the message. Unlike those samples we
 * refuse out-of-range or inconsistent pad bytes instead of decoding garbage.
 */
function unpad(padded: Buffer): Buffer {
  const padLength = padded[padded.length - 1] ?? 0;
  if (padLength < 1 || padLength > PAD_BLOCK || padLength > padded.length) {
    throw new CallbackCryptoError('bad_padding');
  }
  let mismatch = 0;
  for (let i = padded.length - padLength; i < padded.length; i++) {
    mismatch |= (padded[i] ?? 0) ^ padLength;
  }
  if (mismatch !== 0) {
    throw new CallbackCryptoError('bad_padding');
  }
  return padded.subarray(0, padded.length - padLength);
}
