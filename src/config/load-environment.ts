import { existsSync } from 'node:fs';

import { validateEnv, type EnvironmentVariables } from './env.validation.js';

/**
 * How every entry point (the service, `npm run token`) reads its configuration: `.env` in the
 * working directory when there is one (real environment variables win over it), then the one
 * validation. Throws EnvValidationError, whose message is the single line to print.
 */
export function loadEnvironment(): EnvironmentVariables {
  if (existsSync('.env')) process.loadEnvFile('.env');
  return validateEnv(process.env);
}
