import { randomBytes } from 'node:crypto';

import * as wecom from '@wecom/crypto';

/** What WeCom signs and encrypts a callback with: the app's Token and EncodingAESKey, its corp. */
export interface CallbackKeys {
  token: string;
  aesKey: string;
  corpId: string;
}

/** A callback POST as WeCom sends it: the signature in the query, the ciphertext in the XML. */
export interface SignedCallback {
  query: Record<string, string>;
  body: string;
}

/**
 * Encrypts and signs `inner` the way WeCom does (with @wecom/crypto, WeCom's own library).
 * `timestamp` is in seconds (the spec's clock); `encrypt` replaces the ciphertext (a tampered
 * one); `agentId` adds WeCom's AgentID element to the envelope.
 */
export function signedCallback(
  inner: string,
  keys: CallbackKeys,
  opts: { timestamp: number; nonce?: string; encrypt?: string; agentId?: string },
): SignedCallback {
  const timestamp = String(opts.timestamp);
  const nonce = opts.nonce ?? `n${randomBytes(4).toString('hex')}`;
  const encrypt = opts.encrypt ?? wecom.encrypt(keys.aesKey, inner, keys.corpId);
  return {
    query: {
      msg_signature: wecom.getSignature(keys.token, timestamp, nonce, encrypt),
      timestamp,
      nonce,
    },
    body:
      `<xml><ToUserName><![CDATA[${keys.corpId}]]></ToUserName>` +
      (opts.agentId === undefined ? '' : `<AgentID><![CDATA[${opts.agentId}]]></AgentID>`) +
      `<Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`,
  };
}
