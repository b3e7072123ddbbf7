import { ConfigService } from '@nestjs/config';

import type { EnvironmentVariables } from './env.validation.js';

/** The validated environment, typed: `config.get('PORT', { infer: true })` is a number. */
export type AppConfigService = ConfigService<EnvironmentVariables, true>;

export function isSandbox(config: AppConfigService): boolean {
  return !config.get('WECOM_CORP_ID', { infer: true });
}
