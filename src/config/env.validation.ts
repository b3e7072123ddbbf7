import { plainToInstance } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  validateSync,
  type ValidationError,
} from 'class-validator';
import { Transform } from 'class-transformer';

import { parseTrustProxy, TrustProxyError } from './trust-proxy.js';
import { WECOM_LIMITS } from '../wecom/wecom-limits.js';

const toInt = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string') return value;
  if (value.trim() === '') return undefined;
  return /^-?\d+$/.test(value.trim()) ? Number(value) : value;
};
const toBool = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return value;
};
const emptyToUndefined = ({ value }: { value: unknown }) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;
const toOptionalBool = ({ value }: { value: unknown }) =>
  typeof value === 'string' && value.trim() === '' ? undefined : toBool({ value });

/** The development default: `npm start` works without configuration, production refuses it. */
export const DEV_JWT_SECRET = 'dev-only-insecure-jwt-secret-change-me';

/**
 * Every environment variable the service reads. Validated once at start-up; a bad value stops
 * the process with one line naming the variable (see main.ts). `.env.example` documents each.
 */
export class EnvironmentVariables {
  @IsIn(['development', 'production', 'test'])
  NODE_ENV: 'development' | 'production' | 'test' = 'development';

  @Transform(toInt)
  @IsInt({ message: 'must be an integer between 0 and 65535' })
  @Min(0, { message: 'must be an integer between 0 and 65535' })
  @Max(65535, { message: 'must be an integer between 0 and 65535' })
  PORT = 3000;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(['json', 'pretty'])
  LOG_FORMAT?: 'json' | 'pretty';

  @IsIn(['error', 'warn', 'log', 'debug', 'verbose'])
  LOG_LEVEL: 'error' | 'warn' | 'log' | 'debug' | 'verbose' = 'log';

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/[^\s]+$/, {
    message: 'must be a postgres:// or postgresql:// connection URL',
  })
  DATABASE_URL?: string;

  /**
   * The schema owner, for migrations only (optional): the service then migrates on a short-lived
   * connection as this role and serves on DATABASE_URL as a role that can only read and write
   * rows, so row-level security applies to it. Unset: migrations run on DATABASE_URL.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/[^\s]+$/, {
    message: 'must be a postgres:// or postgresql:// connection URL',
  })
  DATABASE_MIGRATION_URL?: string;

  @Transform(toInt)
  @IsInt()
  @Min(2, { message: 'must be at least 2 (migrations need a second connection)' })
  @Max(200)
  DATABASE_POOL_SIZE = 10;

  @IsString()
  @MinLength(1)
  PGLITE_DIR = './data/pglite';

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'must be at least 16 characters' })
  AUTH_JWT_SECRET?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  AUTH_JWKS_URL?: string;

  /** The longest lifetime (exp - iat) a bearer token may have; tokens without exp are refused. */
  @Transform(toInt)
  @IsInt({ message: 'must be a number of seconds between 60 and 2592000 (30 days)' })
  @Min(60, { message: 'must be a number of seconds between 60 and 2592000 (30 days)' })
  @Max(2_592_000, { message: 'must be a number of seconds between 60 and 2592000 (30 days)' })
  AUTH_MAX_TOKEN_TTL_S = 86_400;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'must be a WeCom corp id (letters and digits)' })
  WECOM_CORP_ID?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(256)
  WECOM_CORP_SECRET?: string;

  @Transform(toInt)
  @IsOptional()
  @IsInt({ message: 'must be an integer (the app AgentId)' })
  @Min(1)
  WECOM_AGENT_ID?: number;

  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  WECOM_API_BASE_URL = 'https://qyapi.weixin.qq.com';

  /**
   * true: the built-in simulator, said explicitly (the only way to run production without WeCom
   * credentials); false: the real WeCom, credentials required. Unset: the simulator when
   * WECOM_CORP_ID is unset, outside production only.
   */
  @Transform(toOptionalBool)
  @IsOptional()
  @IsBoolean({ message: 'must be true or false' })
  WECOM_SANDBOX?: boolean;

  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(120000)
  WECOM_HTTP_TIMEOUT_MS = 10000;

  @IsString()
  @Matches(/^(\S+\s+){4,5}\S+$/, { message: 'must be a cron expression (5 or 6 fields)' })
  WECOM_TOKEN_REFRESH_CRON = '0 * * * * *';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(7000)
  WECOM_TOKEN_REFRESH_MARGIN_S = 600;

  /** The Token of the app's callback settings ("接收消息"): letters and digits, at most 32. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9]{1,32}$/, {
    message: 'must be 1 to 32 letters or digits (the callback Token)',
  })
  WECOM_CALLBACK_TOKEN?: string;

  /** The EncodingAESKey of the same settings: 43 base64 characters (32 bytes once decoded). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9+/]{43}$/, { message: 'must be 43 base64 characters (the EncodingAESKey)' })
  WECOM_CALLBACK_AES_KEY?: string;

  /** Where browsers reach this service; the OAuth redirect_uri is built from it. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  PUBLIC_BASE_URL?: string;

  @IsString()
  @Matches(/^[1-9]\d{0,5}[smhd]$/, { message: 'must be a duration such as 30m, 8h or 1d' })
  SIGNIN_JWT_TTL = '8h';

  @Transform(toBool)
  @IsBoolean({ message: 'must be true or false' })
  AUTO_MAP_BY_EMAIL = false;

  /**
   * WeCom userids (comma-separated) who may sign in to the admin console at /admin, as admins.
   * In sandbox mode the simulator's sandbox admin may too.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @Matches(/^\s*[A-Za-z0-9_.@-]{1,64}(\s*,\s*[A-Za-z0-9_.@-]{1,64})*\s*$/, {
    message: 'must be WeCom userids separated by commas (1-64 letters, digits or _.@- each)',
  })
  CONSOLE_ADMINS?: string;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  SIMULATOR_PORT = 4010;

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(60000)
  SIMULATOR_LATENCY_MS = 0;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  SIMULATOR_TOKEN_TTL_S = 7200;

  /** What a repeat gettoken returns while the token is valid (WeCom: the same token). */
  @IsIn(['reuse', 'reuse-full-ttl', 'fresh'])
  SIMULATOR_TOKEN_MODE: 'reuse' | 'reuse-full-ttl' | 'fresh' = 'reuse';

  @IsString()
  SIMULATOR_CORP_ID = 'ww-sandbox';

  @IsString()
  SIMULATOR_CORP_SECRET = 'sandbox-secret';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  SIMULATOR_AGENT_ID = 1000002;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  SIMULATOR_USERS_FILE?: string;

  /** How long the sandbox's simulator waits for /wecom/callback to answer (WeCom: about 5 s). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(60000)
  SIMULATOR_CALLBACK_TIMEOUT_MS = 5000;

  @Transform(toBool)
  @IsBoolean({ message: 'must be true or false' })
  CRON_ENABLED = true;

  @Transform(toInt)
  @IsInt()
  @Min(10)
  @Max(60000)
  DISPATCHER_POLL_MS = 1000;

  @Transform(toInt)
  @IsInt()
  @Min(5)
  @Max(3600)
  DISPATCHER_LEASE_S = 60;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(64)
  DISPATCHER_CONCURRENCY = 8;

  /** Per-member pacing; WeCom drops what goes past its limits, so they can only be lowered. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(WECOM_LIMITS.perMemberPerMinute)
  DISPATCHER_MEMBER_PER_MINUTE: number = WECOM_LIMITS.perMemberPerMinute;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(WECOM_LIMITS.perMemberPerHour)
  DISPATCHER_MEMBER_PER_HOUR: number = WECOM_LIMITS.perMemberPerHour;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  FRONTEND_URL?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'must be at least 16 characters' })
  METRICS_TOKEN?: string;

  @IsString()
  @Matches(/^(\S+\s+){4,5}\S+$/, { message: 'must be a cron expression (5 or 6 fields)' })
  REMINDER_POLL_CRON = '*/10 * * * * *';

  @IsString()
  @Matches(/^\d{1,5}(,\d{1,5})*$/, {
    message: 'must be a comma-separated list of minutes before the start, e.g. 1440,15',
  })
  REMINDER_LEAD_TIMES_MIN = '1440,15';

  /**
   * Encrypts the secrets stored in PostgreSQL (corp secret, callback token and key, access
   * tokens): `<key id>:<32 bytes in base64>`. Required in production.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,16}:[A-Za-z0-9+/]{43}=$/, {
    message: 'must be <key id>:<32 random bytes in base64>, e.g. k1:$(openssl rand -base64 32)',
  })
  APP_ENCRYPTION_KEY?: string;

  /** Keys that were current before a rotation, comma-separated, same form: read, never written. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{1,16}:[A-Za-z0-9+/]{43}=(,[A-Za-z0-9_-]{1,16}:[A-Za-z0-9+/]{43}=)*$/, {
    message: 'must be a comma-separated list of <key id>:<32 bytes in base64>',
  })
  APP_ENCRYPTION_OLD_KEYS?: string;

  /** How often each instance looks for configuration changed by an admin on another one. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60000)
  SETTINGS_POLL_MS = 2000;

  /**
   * Which proxies may set the client address through X-Forwarded-For (see trust-proxy.ts):
   * a hop count or a list of loopback / addresses / CIDR ranges. Unset: none.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  TRUST_PROXY?: string;

  /** Requests per client (user, else IP) per THROTTLE_TTL_S on /api and the public routes. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  THROTTLE_LIMIT = 600;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  THROTTLE_TTL_S = 60;

  /** Requests per client address per THROTTLE_TTL_S; 4 × THROTTLE_LIMIT when unset (offices share one). */
  @Transform(toInt)
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  THROTTLE_IP_LIMIT?: number;

  /**
   * Where rate-limit counters live: 'postgres' (shared by every instance, so limits hold for the
   * deployment) or 'memory' (per process). Unset: postgres when DATABASE_URL names a server.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(['postgres', 'memory'])
  RATE_LIMIT_STORE?: 'postgres' | 'memory';

  @Transform(toInt)
  @IsInt({ message: 'must be an integer (minutes after the end; 0 turns the nudge off)' })
  @Min(0)
  @Max(10080)
  FEEDBACK_NUDGE_MIN = 0;
}

/** Which variables may have their value echoed in an error line (never a secret). */
const SECRET_VARIABLES = new Set([
  'METRICS_TOKEN',
  'AUTH_JWT_SECRET',
  'WECOM_CORP_SECRET',
  'SIMULATOR_CORP_SECRET',
  'WECOM_CALLBACK_TOKEN',
  'WECOM_CALLBACK_AES_KEY',
  'DATABASE_URL',
  'DATABASE_MIGRATION_URL',
  'APP_ENCRYPTION_KEY',
  'APP_ENCRYPTION_OLD_KEYS',
]);

export class EnvValidationError extends Error {
  override name = 'EnvValidationError';
}

function describe(error: ValidationError): string {
  const reasons = Object.values(error.constraints ?? {});
  const reason = reasons[0] ?? 'is invalid';
  const shown = SECRET_VARIABLES.has(error.property)
    ? ''
    : ` (got ${JSON.stringify(String(error.value)).slice(0, 60)})`;
  // class-validator messages start with the property name; keep one clear phrase.
  const phrase = reason.startsWith(error.property)
    ? reason.slice(error.property.length).trim()
    : reason;
  return `${error.property} ${phrase}${shown}`;
}

const DURATION_UNIT_S: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Seconds in a duration of the SIGNIN_JWT_TTL form (`30m`, `8h`, `1d`). */
export function durationSeconds(duration: string): number {
  const unit = duration.slice(-1);
  return Number(duration.slice(0, -1)) * (DURATION_UNIT_S[unit] ?? Number.NaN);
}

export function validateEnv(raw: Record<string, unknown>): EnvironmentVariables {
  const env = plainToInstance(EnvironmentVariables, raw, { exposeDefaultValues: true });
  const errors = validateSync(env, { skipMissingProperties: false, whitelist: false });
  if (errors.length > 0) {
    throw new EnvValidationError(`Invalid configuration: ${errors.map(describe).join('; ')}`);
  }
  // Everything production lacks, in one line: a new deployment is fixed in one go, not three.
  const missing: string[] = [];
  if (env.NODE_ENV === 'production' && !env.AUTH_JWT_SECRET && !env.AUTH_JWKS_URL) {
    missing.push('AUTH_JWT_SECRET must be set in production (or AUTH_JWKS_URL)');
  }
  if (env.NODE_ENV === 'production' && !env.APP_ENCRYPTION_KEY) {
    missing.push(
      'APP_ENCRYPTION_KEY must be set in production (secrets are stored encrypted with it)',
    );
  }
  if (env.WECOM_SANDBOX === true && env.WECOM_CORP_ID) {
    missing.push(
      'WECOM_SANDBOX=true selects the built-in simulator: unset it or WECOM_CORP_ID, not both',
    );
  } else if (!env.WECOM_CORP_ID && env.WECOM_SANDBOX === false) {
    missing.push(
      'WECOM_CORP_ID, WECOM_CORP_SECRET and WECOM_AGENT_ID must be set when WECOM_SANDBOX=false',
    );
  } else if (!env.WECOM_CORP_ID && env.NODE_ENV === 'production' && env.WECOM_SANDBOX !== true) {
    // A production instance without credentials would "deliver" to the simulator: refuse.
    missing.push(
      'WECOM_CORP_ID, WECOM_CORP_SECRET and WECOM_AGENT_ID must be set in production (or WECOM_SANDBOX=true to run against the built-in simulator)',
    );
  }
  if (missing.length > 0) {
    throw new EnvValidationError(`Invalid configuration: ${missing.join('; ')}`);
  }
  if (env.DATABASE_MIGRATION_URL && !env.DATABASE_URL) {
    // The embedded database has one user; migrating another database than the one served is
    // never what was meant.
    throw new EnvValidationError(
      'Invalid configuration: DATABASE_MIGRATION_URL needs DATABASE_URL (the embedded database migrates itself)',
    );
  }
  if (env.WECOM_CORP_ID && (!env.WECOM_CORP_SECRET || !env.WECOM_AGENT_ID)) {
    throw new EnvValidationError(
      'Invalid configuration: WECOM_CORP_SECRET and WECOM_AGENT_ID must be set when WECOM_CORP_ID is set',
    );
  }
  if (durationSeconds(env.SIGNIN_JWT_TTL) > env.AUTH_MAX_TOKEN_TTL_S) {
    throw new EnvValidationError(
      `Invalid configuration: SIGNIN_JWT_TTL must not be longer than AUTH_MAX_TOKEN_TTL_S (${env.AUTH_MAX_TOKEN_TTL_S} s), or its tokens would be refused (got "${env.SIGNIN_JWT_TTL}")`,
    );
  }
  try {
    parseTrustProxy(env.TRUST_PROXY);
  } catch (error) {
    if (!(error instanceof TrustProxyError)) throw error;
    throw new EnvValidationError(`Invalid configuration: TRUST_PROXY ${error.message}`);
  }
  if (!env.WECOM_CALLBACK_TOKEN !== !env.WECOM_CALLBACK_AES_KEY) {
    throw new EnvValidationError(
      'Invalid configuration: WECOM_CALLBACK_TOKEN and WECOM_CALLBACK_AES_KEY must be set together',
    );
  }
  return env;
}
