import type { DynamicModule } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';

import type { EnvironmentVariables } from './env.validation.js';

/** The validated environment, typed: `config.get('PORT', { infer: true })` is a number. */
export type AppConfigService = ConfigService<EnvironmentVariables, true>;

/**
 * The global ConfigModule over `env` alone, validated before the module is built (main.ts, or a
 * spec with its own values): no .env or process.env lookups behind its back, so specs that boot
 * several apps with different settings do not leak into each other.
 */
export function configModuleFor(env: EnvironmentVariables): Promise<DynamicModule> {
  return ConfigModule.forRoot({
    isGlobal: true,
    ignoreEnvFile: true,
    ignoreEnvVars: true,
    skipProcessEnv: true,
    load: [() => ({ ...env })],
  });
}

/**
 * The built-in simulator instead of WeCom: WECOM_SANDBOX=true, or no WECOM_CORP_ID (which
 * validateEnv allows outside production only).
 */
export function isSandbox(config: AppConfigService): boolean {
  return isSandboxEnv({
    WECOM_SANDBOX: config.get('WECOM_SANDBOX', { infer: true }),
    WECOM_CORP_ID: config.get('WECOM_CORP_ID', { infer: true }),
  });
}

/** isSandbox for the validated environment before Nest starts (main.ts starts the simulator). */
export function isSandboxEnv(
  env: Pick<EnvironmentVariables, 'WECOM_SANDBOX' | 'WECOM_CORP_ID'>,
): boolean {
  return env.WECOM_SANDBOX ?? !env.WECOM_CORP_ID;
}
