import { randomBytes } from 'node:crypto';

import { organizationScope } from '../common/organization-scope.js';
import { isSandbox, type AppConfigService } from '../config/app-config.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import type { RuntimeSettings } from '../settings/runtime-settings.js';

/**
 * In sandbox mode the simulated app has callbacks on, like a configured real one: without a
 * Token and EncodingAESKey (none in the environment, or turned off by an admin) random ones are
 * stored, sealed and audited like any other change. They never leave the process except sealed.
 * Provided through an async factory, so they are in place before any provider's onModuleInit
 * (WeComCallbackService says when callbacks are off) and before main.ts aims the simulator at
 * /wecom/callback.
 */
export class SandboxCallbackSecrets {
  private constructor(
    /** True when this start stored new ones. */
    readonly generated: boolean,
  ) {}

  static async ensure(
    config: AppConfigService,
    runtime: RuntimeSettings,
  ): Promise<SandboxCallbackSecrets> {
    if (!isSandbox(config)) return new SandboxCallbackSecrets(false);
    // The sandbox's simulated app is `default`'s, as the environment's WeCom settings are.
    return organizationScope.run(DEFAULT_ORGANIZATION, () =>
      SandboxCallbackSecrets.forDefault(runtime),
    );
  }

  private static async forDefault(runtime: RuntimeSettings): Promise<SandboxCallbackSecrets> {
    const current = await runtime.current();
    if (current.callbackToken && current.callbackAesKey) return new SandboxCallbackSecrets(false);
    const { corpId, agentId, corpSecret, options } = current;
    await runtime.save(
      {
        corpId,
        agentId,
        corpSecret,
        options,
        callbackToken: randomBytes(16).toString('hex'),
        // 32 random bytes are 43 base64 characters and one "=": WeCom's EncodingAESKey format.
        callbackAesKey: randomBytes(32).toString('base64').slice(0, 43),
      },
      {
        actor: 'system',
        action: 'sandbox-callback',
        fields: ['callbackToken', 'callbackAesKey'],
        outcome: 'applied',
      },
    );
    return new SandboxCallbackSecrets(true);
  }
}
