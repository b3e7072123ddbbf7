/**
 * Gives WeComClient a token and takes back one WeCom refused. AccessTokenProvider is the one
 * (wecom.module.ts): an abstract class, so that it is also the injection token.
 */
export abstract class TokenSource {
  abstract getToken(): Promise<string>;
  abstract invalidate(token: string): Promise<void>;
}
