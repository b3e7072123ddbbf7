import { ConfigService } from '@nestjs/config';

import type { EnvironmentVariables } from './env.validation.js';

/** The validated environment, typed: `config.get('PORT', { infer: true })` is a number. */
export type AppConfigService = ConfigService<EnvironmentVariables, true>;

/**
 * The built-in simulator instead of WeCom: WECOM_SANDBOX=true, or no WECOM_CORP_ID (which
 * validateEnv allows outside production only).
 */
export function isSandbox(config: AppConfigService): boolean {
  return (
    config.get('WECOM_SANDBOX', { infer: true }) ?? !config.get('WECOM_CORP_ID', { infer: true })
  );
}
