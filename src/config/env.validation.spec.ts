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
    [
      { DATABASE_URL: 'postgres://app@db/smbw', DATABASE_MIGRATION_URL: 'owner@db/smbw' },
      /^Invalid configuration: DATABASE_MIGRATION_URL must be a postgres:\/\/ or postgresql:\/\/ connection URL$/,
    ],
    [
      { DATABASE_MIGRATION_URL: 'postgres://owner@db/smbw' },
      /DATABASE_MIGRATION_URL needs DATABASE_URL/,
    ],
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

  describe('WeCom in production', () => {
    const production = {
      NODE_ENV: 'production',
      AUTH_JWT_SECRET: 'a-production-secret-of-enough-length',
      APP_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
    };
    const credentials = {
      WECOM_CORP_ID: 'ww0123456789abcdef',
      WECOM_CORP_SECRET: 'app-secret',
      WECOM_AGENT_ID: '1000002',
    };

    it('refuses to start without credentials, naming the three variables and the way out', () => {
      expect(() => validateEnv(production)).toThrow(
        new EnvValidationError(
          'Invalid configuration: WECOM_CORP_ID, WECOM_CORP_SECRET and WECOM_AGENT_ID must be set in production (or WECOM_SANDBOX=true to run against the built-in simulator)',
        ),
      );
    });

    it('names everything production lacks in one line', () => {
      let caught: unknown;
      try {
        validateEnv({ NODE_ENV: 'production' });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(EnvValidationError);
      const message = (caught as Error).message;
      expect(message).not.toContain('\n');
      for (const name of ['AUTH_JWT_SECRET', 'APP_ENCRYPTION_KEY', 'WECOM_CORP_ID']) {
        expect(message).toContain(name);
      }
    });

    it('runs against the simulator only when WECOM_SANDBOX=true says so', () => {
      expect(validateEnv({ ...production, WECOM_SANDBOX: 'true' }).WECOM_SANDBOX).toBe(true);
      expect(validateEnv({ ...production, ...credentials }).WECOM_CORP_ID).toBe(
        credentials.WECOM_CORP_ID,
      );
    });

    it('keeps the development default: no credentials means the simulator', () => {
      expect(validateEnv({}).WECOM_SANDBOX).toBeUndefined();
      expect(validateEnv({ WECOM_SANDBOX: '' }).WECOM_SANDBOX).toBeUndefined();
    });

    it.each([
      [{ WECOM_SANDBOX: 'false' }, /WECOM_CORP_ID, .* must be set when WECOM_SANDBOX=false/],
      [{ WECOM_SANDBOX: 'true', ...credentials }, /unset it or WECOM_CORP_ID, not both/],
      [{ WECOM_SANDBOX: 'maybe' }, /WECOM_SANDBOX must be true or false \(got "maybe"\)/],
    ])('refuses the contradiction %j', (raw, message) => {
      expect(() => validateEnv(raw)).toThrow(message);
    });
  });

  it('takes the migration URL beside the service URL, and without it migrates on DATABASE_URL', () => {
    const env = validateEnv({
      DATABASE_URL: 'postgres://smbw_app@db:5432/smbw',
      DATABASE_MIGRATION_URL: 'postgresql://smbw_owner:pw@db:5432/smbw',
    });
    expect(env.DATABASE_MIGRATION_URL).toBe('postgresql://smbw_owner:pw@db:5432/smbw');
    expect(validateEnv({ DATABASE_MIGRATION_URL: '' }).DATABASE_MIGRATION_URL).toBeUndefined();
  });

  it('never echoes a secret value', () => {
    expect(() => validateEnv({ AUTH_JWT_SECRET: 'short-secret' })).toThrow(
      /^Invalid configuration: AUTH_JWT_SECRET must be at least 16 characters$/,
    );
    expect(() => validateEnv({ DATABASE_URL: 'mysql://user:hunter2@host/db' })).not.toThrow(
      /hunter2/,
    );
    expect(() =>
      validateEnv({ DATABASE_URL: 'postgres://a@h/d', DATABASE_MIGRATION_URL: 'x://o:hunter2@h' }),
    ).toThrow(/^Invalid configuration: DATABASE_MIGRATION_URL must be a postgres:\/\/ [^"]*$/);
  });
});
