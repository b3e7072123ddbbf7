import { createCipheriv } from 'node:crypto';

import * as wecom from '@wecom/crypto';

import { parseCallbackXml } from './callback-xml.js';
import {
  CallbackCryptoError,
  type CallbackCryptoFailure,
  isTimestampFresh,
  WeComCallbackCrypto,
} from './wecom-callback-crypto.js';

// The sample credentials from WeCom's own 加解密 documentation.
const TOKEN = 'QDG6eK';
const AES_KEY = 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C';
const CORP_ID = 'wx5823bf96d3bd56c7';
const OTHER_AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const TIMESTAMP = '1409659813';
const NONCE = '1372623149';
const RANDOM = Buffer.from('0123456789abcdef');

const EVENT_XML =
  '<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>' +
  '<FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1409659813</CreateTime>' +
  '<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event>' +
  '<EventKey><![CDATA[accept]]></EventKey><TaskId><![CDATA[iv_42]]></TaskId>' +
  '<CardType><![CDATA[button_interaction]]></CardType>' +
  '<ResponseCode><![CDATA[rc_abc]]></ResponseCode><AgentID>1000002</AgentID></xml>';

function reasonOf(fn: () => unknown): CallbackCryptoFailure | 'returned' {
  try {
    fn();
  } catch (error) {
    if (error instanceof CallbackCryptoError) return error.reason;
    throw error;
  }
  return 'returned';
}

/** Encrypts an arbitrary (already padded) plaintext with the sample key, bypassing our encoder. */
function rawEncrypt(plain: Buffer, autoPadding: boolean, aesKey = AES_KEY): string {
  const key = Buffer.from(`${aesKey}=`, 'base64');
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(autoPadding);
  return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
}

function framed(message: string, receiveId = CORP_ID): Buffer {
  const body = Buffer.from(message);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([RANDOM, length, body, Buffer.from(receiveId)]);
}

function flipByte(base64: string, index: number, mask = 0x80): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[index] = (bytes[index] as number) ^ mask;
  return bytes.toString('base64');
}

describe(WeComCallbackCrypto.name, () => {
  let sut: WeComCallbackCrypto;

  beforeEach(() => {
    sut = new WeComCallbackCrypto(TOKEN, AES_KEY, CORP_ID);
  });

  describe('constructor', () => {
    it.each([
      ['42 characters', AES_KEY.slice(0, 42)],
      ['44 characters', `${AES_KEY}A`],
      ['a padded key', `${AES_KEY.slice(0, 42)}=`],
      ['URL-safe characters', `${AES_KEY.slice(0, 41)}-_`],
      ['whitespace', ` ${AES_KEY.slice(1)}`],
      ['an empty key', ''],
    ])('rejects an EncodingAESKey with %s', (_label, key) => {
      expect(reasonOf(() => new WeComCallbackCrypto(TOKEN, key, CORP_ID))).toBe('bad_aes_key');
    });

    it('never echoes the key in its error message', () => {
      const key = AES_KEY.slice(0, 42);
      let caught: unknown;
      try {
        new WeComCallbackCrypto(TOKEN, key, CORP_ID);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(CallbackCryptoError);
      expect((caught as Error).message).not.toContain(key);
    });

    it('rejects an empty token', () => {
      expect(() => new WeComCallbackCrypto('', AES_KEY, CORP_ID)).toThrow(TypeError);
    });

    it('accepts an empty receiveId (used by some third-party app callbacks)', () => {
      const crypto = new WeComCallbackCrypto(TOKEN, AES_KEY, '');
      expect(crypto.decrypt(wecom.encrypt(AES_KEY, 'hi', ''))).toBe('hi');
      expect(reasonOf(() => crypto.decrypt(wecom.encrypt(AES_KEY, 'hi', CORP_ID)))).toBe(
        'receiveid_mismatch',
      );
    });
  });

  describe('signature', () => {
    it('equals @wecom/crypto getSignature', () => {
      const encrypt = wecom.encrypt(AES_KEY, EVENT_XML, CORP_ID);
      expect(sut.signature(TIMESTAMP, NONCE, encrypt)).toBe(
        wecom.getSignature(TOKEN, TIMESTAMP, NONCE, encrypt),
      );
    });

    it('is the lower-case sha1 of the sorted, concatenated strings', () => {
      // sorted: "1372623149" < "1409659813" < "QDG6eK" < "abc"
      expect(sut.signature(TIMESTAMP, NONCE, 'abc')).toBe(
        wecom.getSignature(TOKEN, TIMESTAMP, NONCE, 'abc'),
      );
      expect(sut.signature(TIMESTAMP, NONCE, 'abc')).toMatch(/^[0-9a-f]{40}$/);
    });
  });

  describe('verifySignature', () => {
    const encrypt = wecom.encrypt(AES_KEY, EVENT_XML, CORP_ID);
    const good = wecom.getSignature(TOKEN, TIMESTAMP, NONCE, encrypt);

    it('accepts the right signature', () => {
      expect(sut.verifySignature(good, TIMESTAMP, NONCE, encrypt)).toBe(true);
    });

    it('rejects a signature with one character changed', () => {
      const flipped = (good[0] === 'a' ? 'b' : 'a') + good.slice(1);
      expect(sut.verifySignature(flipped, TIMESTAMP, NONCE, encrypt)).toBe(false);
    });

    it.each([
      ['shorter', good.slice(0, 39)],
      ['longer', `${good}0`],
      ['empty', ''],
      ['upper-case', good.toUpperCase()],
    ])('returns false, without throwing, for a %s signature', (_label, signature) => {
      expect(sut.verifySignature(signature, TIMESTAMP, NONCE, encrypt)).toBe(false);
    });

    it('returns false for a non-string value (e.g. a repeated query parameter)', () => {
      const asArray = [good, good] as unknown as string;
      expect(sut.verifySignature(asArray, TIMESTAMP, NONCE, encrypt)).toBe(false);
    });

    it('rejects a signature made with another timestamp or nonce', () => {
      expect(sut.verifySignature(good, '1409659814', NONCE, encrypt)).toBe(false);
      expect(sut.verifySignature(good, TIMESTAMP, '1372623148', encrypt)).toBe(false);
    });
  });

  describe('decryptRequest with vectors from @wecom/crypto', () => {
    function request(message: string, receiveId = CORP_ID, token = TOKEN, aesKey = AES_KEY) {
      const encrypt = wecom.encrypt(aesKey, message, receiveId);
      return {
        msgSignature: wecom.getSignature(token, TIMESTAMP, NONCE, encrypt),
        timestamp: TIMESTAMP,
        nonce: NONCE,
        encrypt,
      };
    }

    it.each([
      ['an event body', EVENT_XML],
      ['a URL-check echostr', '4597238412617329147'],
      [
        'Chinese text',
        '<xml><Content><![CDATA[你好，面试将于明天 10:00 开始 🚀]]></Content></xml>',
      ],
      ['a 5 KB message', 'x'.repeat(5 * 1024 - 3) + '结束'],
      ['an empty message', ''],
    ])('decrypts %s', (_label, message) => {
      expect(sut.decryptRequest(request(message))).toBe(message);
    });

    it('decrypts messages of every length around the 32-byte padding boundary', () => {
      for (let length = 0; length <= 70; length++) {
        const message = 'm'.repeat(length);
        expect(sut.decryptRequest(request(message))).toBe(message);
      }
    });

    it('rejects a flipped signature character', () => {
      const req = request(EVENT_XML);
      const msgSignature = (req.msgSignature[0] === '0' ? '1' : '0') + req.msgSignature.slice(1);
      expect(reasonOf(() => sut.decryptRequest({ ...req, msgSignature }))).toBe('bad_signature');
    });

    it('rejects a request signed with another token', () => {
      const req = request(EVENT_XML, CORP_ID, 'AnotherToken');
      expect(reasonOf(() => sut.decryptRequest(req))).toBe('bad_signature');
    });

    it('rejects a changed timestamp (the signature covers it)', () => {
      const req = request(EVENT_XML);
      expect(reasonOf(() => sut.decryptRequest({ ...req, timestamp: '1409659999' }))).toBe(
        'bad_signature',
      );
    });

    it('rejects a flipped ciphertext byte before decrypting it', () => {
      const req = request(EVENT_XML);
      const encrypt = flipByte(req.encrypt, 40, 0x01);
      expect(reasonOf(() => sut.decryptRequest({ ...req, encrypt }))).toBe('bad_signature');
    });

    it('rejects a correctly signed message for another corp', () => {
      const req = request(EVENT_XML, 'wwanothercorp00000');
      expect(reasonOf(() => sut.decryptRequest(req))).toBe('receiveid_mismatch');
    });

    it('rejects a correctly signed message encrypted with another AES key', () => {
      const req = request(EVENT_XML, CORP_ID, TOKEN, OTHER_AES_KEY);
      expect(['bad_padding', 'bad_length', 'receiveid_mismatch']).toContain(
        reasonOf(() => sut.decryptRequest(req)),
      );
    });
  });

  describe('decrypt', () => {
    const encrypt = wecom.encrypt(AES_KEY, EVENT_XML, CORP_ID, RANDOM);

    it.each([
      ['an empty string', ''],
      ['non-base64 characters', 'not base64 at all!!'],
      ['base64 with embedded whitespace', `${encrypt.slice(0, 8)} ${encrypt.slice(8)}`],
      ['URL-safe base64', encrypt.replace(/\+/g, '-').replace(/\//g, '_') + '-_'],
      ['a length that is not a multiple of 4', encrypt.slice(0, -1)],
      ['a truncated block (not a multiple of 16 bytes)', encrypt.slice(0, -4)],
      ['padding only', '===='],
    ])('rejects %s as bad_ciphertext', (_label, value) => {
      expect(reasonOf(() => sut.decrypt(value))).toBe('bad_ciphertext');
    });

    it('rejects a non-string ciphertext as bad_ciphertext', () => {
      expect(reasonOf(() => sut.decrypt(undefined as unknown as string))).toBe('bad_ciphertext');
    });

    it('rejects a ciphertext with its last block cut off', () => {
      const bytes = Buffer.from(encrypt, 'base64');
      const truncated = bytes.subarray(0, bytes.length - 16).toString('base64');
      expect(['bad_padding', 'bad_length', 'receiveid_mismatch']).toContain(
        reasonOf(() => sut.decrypt(truncated)),
      );
    });

    it('rejects a ciphertext made with another AES key', () => {
      const foreign = wecom.encrypt(OTHER_AES_KEY, EVENT_XML, CORP_ID, RANDOM);
      expect(['bad_padding', 'bad_length', 'receiveid_mismatch']).toContain(
        reasonOf(() => sut.decrypt(foreign)),
      );
    });

    // CBC is malleable: flipping ciphertext byte i flips plaintext byte i + 16. The signature is
    // what stops this in decryptRequest; decrypt alone must still fail cleanly.
    it('rejects a flipped byte that corrupts the length field as bad_length', () => {
      expect(reasonOf(() => sut.decrypt(flipByte(encrypt, 0)))).toBe('bad_length');
    });

    it('rejects a flipped byte in the last block as bad_padding', () => {
      const bytes = Buffer.from(encrypt, 'base64');
      expect(reasonOf(() => sut.decrypt(flipByte(encrypt, bytes.length - 17, 0x01)))).toBe(
        'bad_padding',
      );
    });

    it('rejects a flipped byte inside the receiveid as receiveid_mismatch', () => {
      // Find a ciphertext byte that only toggles a receiveid character, not the padding.
      const plainLength = framed(EVENT_XML).length;
      const receiveIdByte = plainLength - 2;
      expect(reasonOf(() => sut.decrypt(flipByte(encrypt, receiveIdByte - 16, 0x01)))).toBe(
        'receiveid_mismatch',
      );
    });

    it.each([
      ['a pad value of 0', 0, 0],
      ['a pad value of 33', 33, 33],
      ['pad bytes that disagree', 8, 7],
    ])('rejects %s as bad_padding', (_label, last, others) => {
      const plain = framed('hello');
      const padLength = 32 - (plain.length % 32) + 32; // room for a pad of up to 33 bytes
      const pad = Buffer.alloc(padLength, others);
      pad[padLength - 1] = last;
      expect(reasonOf(() => sut.decrypt(rawEncrypt(Buffer.concat([plain, pad]), false)))).toBe(
        'bad_padding',
      );
    });

    it('rejects a receiveid that only extends ours', () => {
      const foreign = wecom.encrypt(AES_KEY, EVENT_XML, `${CORP_ID}x`);
      expect(reasonOf(() => sut.decrypt(foreign))).toBe('receiveid_mismatch');
      const prefix = wecom.encrypt(AES_KEY, EVENT_XML, CORP_ID.slice(0, -1));
      expect(reasonOf(() => sut.decrypt(prefix))).toBe('receiveid_mismatch');
    });

    it('rejects a length field that overruns the plaintext as bad_length', () => {
      const plain = framed('hello');
      plain.writeUInt32BE(5 + CORP_ID.length + 1, 16);
      const padLength = 32 - (plain.length % 32);
      const padded = Buffer.concat([plain, Buffer.alloc(padLength, padLength)]);
      expect(reasonOf(() => sut.decrypt(rawEncrypt(padded, false)))).toBe('bad_length');
    });

    it('rejects a plaintext shorter than the 20-byte header as bad_length', () => {
      const padded = Buffer.concat([Buffer.alloc(12, 0x41), Buffer.alloc(20, 20)]);
      expect(reasonOf(() => sut.decrypt(rawEncrypt(padded, false)))).toBe('bad_length');
    });

    // Standard PKCS#7 pads to the 16-byte AES block; WeCom pads to 32. Such a ciphertext has a
    // valid run of 1..16 pad bytes, and @wecom/crypto (whose unpad only reads the last byte and
    // accepts 1..32) decrypts it, so we match WeCom and accept it too. The message must pass
    // the signature check first in decryptRequest anyway.
    it('accepts a ciphertext padded to 16-byte blocks, as @wecom/crypto does', () => {
      const plain = framed('hello'); // 16 + 4 + 5 + 18 = 43 bytes: 16-byte padding gives 48
      expect(plain.length % 32).toBeLessThan(16); // so 32-byte padding would differ (64 bytes)
      const sixteen = rawEncrypt(plain, true);
      expect(Buffer.from(sixteen, 'base64').length).toBe(48);

      expect(wecom.decrypt(AES_KEY, sixteen)).toMatchObject({ message: 'hello', id: CORP_ID });
      expect(sut.decrypt(sixteen)).toBe('hello');
    });

    it('only ever throws CallbackCryptoError for mutated ciphertexts', () => {
      const original = Buffer.from(encrypt, 'base64');
      let seed = 12345;
      const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
      for (let i = 0; i < 500; i++) {
        const bytes = Buffer.from(original);
        const flips = 1 + (next() % 4);
        for (let f = 0; f < flips; f++) bytes[next() % bytes.length] = next() % 256;
        const cut = next() % 3 === 0 ? 16 * (next() % (bytes.length / 16)) : bytes.length;
        const mutated = bytes.subarray(0, cut).toString('base64');
        expect(() => {
          try {
            sut.decrypt(mutated);
          } catch (error) {
            if (!(error instanceof CallbackCryptoError)) throw error;
          }
        }).not.toThrow();
      }
    });
  });

  describe('encrypt', () => {
    it.each([
      ['an event body', EVENT_XML],
      ['Chinese text', '面试提醒：候选人张三，岗位「后端工程师」'],
      ['a 5 KB message', '数据'.repeat(854)],
      ['an empty message', ''],
    ])('produces %s that @wecom/crypto decrypts', (_label, message) => {
      expect(wecom.decrypt(AES_KEY, sut.encrypt(message))).toMatchObject({ message, id: CORP_ID });
    });

    it('is byte-identical to @wecom/crypto for the same random prefix', () => {
      expect(sut.encrypt(EVENT_XML, RANDOM)).toBe(
        wecom.encrypt(AES_KEY, EVENT_XML, CORP_ID, RANDOM),
      );
    });

    it('pads to whole 32-byte blocks', () => {
      for (let length = 0; length <= 40; length++) {
        expect(Buffer.from(sut.encrypt('a'.repeat(length)), 'base64').length % 32).toBe(0);
      }
    });

    it('uses a fresh random prefix each time', () => {
      expect(sut.encrypt(EVENT_XML)).not.toBe(sut.encrypt(EVENT_XML));
    });

    it('rejects a random prefix that is not 16 bytes', () => {
      expect(() => sut.encrypt('x', Buffer.alloc(15))).toThrow(RangeError);
    });

    it('roundtrips through its own decrypt', () => {
      const message = '回调 ✓ '.repeat(300);
      expect(sut.decrypt(sut.encrypt(message))).toBe(message);
    });
  });

  describe('encryptReply', () => {
    it('builds a reply XML that WeCom can verify and decrypt', () => {
      const reply = sut.encryptReply(EVENT_XML, TIMESTAMP, NONCE);
      expect(reply).toMatch(
        /^<xml><Encrypt><!\[CDATA\[[A-Za-z0-9+/=]+\]\]><\/Encrypt><MsgSignature><!\[CDATA\[[0-9a-f]{40}\]\]><\/MsgSignature><TimeStamp>1409659813<\/TimeStamp><Nonce><!\[CDATA\[1372623149\]\]><\/Nonce><\/xml>$/,
      );

      const fields = parseCallbackXml(reply);
      expect(fields.TimeStamp).toBe(TIMESTAMP);
      expect(fields.Nonce).toBe(NONCE);
      expect(fields.MsgSignature).toBe(
        wecom.getSignature(TOKEN, TIMESTAMP, NONCE, fields.Encrypt as string),
      );
      expect(wecom.decrypt(AES_KEY, fields.Encrypt as string).message).toBe(EVENT_XML);
      expect(
        sut.decryptRequest({
          msgSignature: fields.MsgSignature as string,
          timestamp: TIMESTAMP,
          nonce: NONCE,
          encrypt: fields.Encrypt as string,
        }),
      ).toBe(EVENT_XML);
    });

    it.each([
      ['a non-numeric timestamp', '12</TimeStamp>', NONCE],
      ['an empty nonce', TIMESTAMP, ''],
      ['a nonce that closes the CDATA', TIMESTAMP, 'a]]><x>'],
      ['a nonce with a newline', TIMESTAMP, 'a\nb'],
    ])('refuses %s', (_label, timestamp, nonce) => {
      expect(() => sut.encryptReply('x', timestamp, nonce)).toThrow(RangeError);
    });
  });
});

describe(isTimestampFresh.name, () => {
  const now = 1_700_000_000_000;

  it.each([
    ['now', '1700000000', true],
    ['300 s ago', '1699999700', true],
    ['300 s ahead', '1700000300', true],
    ['301 s ago', '1699999699', false],
    ['301 s ahead', '1700000301', false],
    ['milliseconds by mistake', '1700000000000', false],
    ['empty', '', false],
    ['signed', '-1700000000', false],
    ['fractional', '1700000000.5', false],
    ['hex', '0x6553f100', false],
  ])('%s -> %s', (_label, timestamp, fresh) => {
    expect(isTimestampFresh(timestamp, now)).toBe(fresh);
  });

  it('takes a custom tolerance', () => {
    expect(isTimestampFresh('1699999990', now, 5)).toBe(false);
    expect(isTimestampFresh('1699999995', now, 5)).toBe(true);
  });
});
