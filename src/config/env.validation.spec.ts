import { EnvValidationError, validateEnv } from './env.validation.js';

describe(validateEnv.name, () => {
  it('applies defaults to an empty environment', () => {
    const env = validateEnv({});
    expect(env.PORT).toBe(3000);
    expect(env.NODE_ENV).toBe('development');
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.PGLITE_DIR).toBe('./data/pglite');
  });

  it('turns numeric strings into numbers', () => {
    expect(validateEnv({ PORT: '8080', DATABASE_POOL_SIZE: '4' })).toMatchObject({
      PORT: 8080,
      DATABASE_POOL_SIZE: 4,
    });
  });

  it.each([
    [{ PORT: 'abc' }, /^Invalid configuration: PORT must be an integer .*"abc"/],
    [{ DATABASE_URL: 'not-a-url' }, /DATABASE_URL must be a postgres:\/\/ /],
    [{ NODE_ENV: 'staging' }, /NODE_ENV .*"staging"/],
    [{ NODE_ENV: 'production' }, /AUTH_JWT_SECRET must be set in production/],
    [{ WECOM_CORP_ID: 'ww123' }, /WECOM_CORP_SECRET and WECOM_AGENT_ID must be set/],
  ])('rejects %j with a one-line message naming the variable', (raw, message) => {
    let caught: unknown;
    try {
      validateEnv(raw);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(EnvValidationError);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).not.toContain('\n');
  });

  it('never echoes a secret value', () => {
    expect(() => validateEnv({ AUTH_JWT_SECRET: 'short-secret' })).toThrow(
      /^Invalid configuration: AUTH_JWT_SECRET must be at least 16 characters$/,
    );
    expect(() => validateEnv({ DATABASE_URL: 'mysql://user:hunter2@host/db' })).not.toThrow(
      /hunter2/,
    );
  });
});
