import { Logger } from '@nestjs/common';

import { organizationScope } from '../common/organization-scope.js';
import { isSandbox, type AppConfigService } from '../config/app-config.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import type { RuntimeSettings } from '../settings/runtime-settings.js';

export interface WeComCredentials {
  corpId: string;
  corpSecret: string;
  agentId: number;
}

/**
 * Where WeCom is and who we are to it: WECOM_API_BASE_URL (one for every organisation), and the
 * credentials of the organisation in scope, from its runtime configuration (`default`'s seeded
 * from the environment; each changed by its admins without a restart). In sandbox mode
 * (WECOM_SANDBOX=true, or WECOM_CORP_ID unset outside production) main.ts has started the WeCom
 * simulator, or found another instance's, and set WECOM_API_BASE_URL to it
 * (tools/wecom-simulator/sandbox.ts): the client talks to it over real HTTP, exactly as it would
 * to qyapi.weixin.qq.com. This class starts nothing.
 */
export class WeComSettings {
  private constructor(
    readonly baseUrl: string,
    private readonly runtime: RuntimeSettings,
    /** True in sandbox mode, whether this process runs the simulator or another one does. */
    readonly sandbox: boolean,
  ) {}

  static async create(config: AppConfigService, runtime: RuntimeSettings): Promise<WeComSettings> {
    const baseUrl = config.get('WECOM_API_BASE_URL', { infer: true });
    const sandbox = isSandbox(config);
    if (!sandbox) {
      const { corpId, agentId } = await organizationScope.run(DEFAULT_ORGANIZATION, () =>
        runtime.current(),
      );
      new Logger(WeComSettings.name).log(
        `WeCom: corp ${corpId}, agent ${agentId} (organisation default), API at ${baseUrl}`,
      );
    }
    return new WeComSettings(baseUrl, runtime, sandbox);
  }

  /**
   * The WeCom app of the organisation in scope: corp id `''`, agent 0 and no secret while it has
   * none (AccessTokenProvider then asks WeCom nothing).
   */
  async credentials(): Promise<WeComCredentials> {
    const { corpId, corpSecret, agentId } = await this.runtime.current();
    return { corpId, corpSecret, agentId };
  }
}
