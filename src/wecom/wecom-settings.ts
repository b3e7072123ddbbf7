import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';

import { isSandbox, type AppConfigService } from '../config/app-config.js';
import type { RuntimeSettings } from '../settings/runtime-settings.js';
import { loadUsersFile, WeComSimulator } from './simulator/wecom-simulator.js';

export interface WeComCredentials {
  corpId: string;
  corpSecret: string;
  agentId: number;
}

/**
 * Where WeCom is and who we are to it. With WECOM_CORP_ID unset (sandbox mode) the built-in
 * simulator is started in-process on its own port and the client talks to it over real HTTP,
 * exactly as it would to qyapi.weixin.qq.com. The credentials are the runtime configuration's
 * (seeded from the environment, changed by admins without a restart).
 */
@Injectable()
export class WeComSettings implements OnApplicationShutdown {
  private readonly logger = new Logger(WeComSettings.name);

  private constructor(
    readonly baseUrl: string,
    private readonly runtime: RuntimeSettings,
    readonly simulator?: WeComSimulator,
  ) {}

  static async create(config: AppConfigService, runtime: RuntimeSettings): Promise<WeComSettings> {
    const logger = new Logger(WeComSettings.name);
    if (!isSandbox(config)) {
      const baseUrl = config.get('WECOM_API_BASE_URL', { infer: true });
      const { corpId, agentId } = runtime.current();
      logger.log(`WeCom: corp ${corpId}, agent ${agentId}, API at ${baseUrl}`);
      return new WeComSettings(baseUrl, runtime);
    }
    const creds = {
      corpId: config.get('SIMULATOR_CORP_ID', { infer: true }),
      corpSecret: config.get('SIMULATOR_CORP_SECRET', { infer: true }),
      agentId: config.get('SIMULATOR_AGENT_ID', { infer: true }),
    };
    const usersFile = config.get('SIMULATOR_USERS_FILE', { infer: true });
    const simulator = new WeComSimulator({
      ...creds,
      latencyMs: config.get('SIMULATOR_LATENCY_MS', { infer: true }),
      tokenTtlSeconds: config.get('SIMULATOR_TOKEN_TTL_S', { infer: true }),
      tokenMode: config.get('SIMULATOR_TOKEN_MODE', { infer: true }),
      ...(usersFile ? { users: loadUsersFile(usersFile) } : {}),
    });
    const baseUrl = await simulator.start(config.get('SIMULATOR_PORT', { infer: true }));
    logger.warn(
      `WeCom: SANDBOX mode (WECOM_CORP_ID is unset): built-in simulator at ${baseUrl}, ` +
        `corp ${creds.corpId}, agent ${creds.agentId}; see what members received at ${baseUrl}/__simulator/messages?touser=zhangsan`,
    );
    return new WeComSettings(baseUrl, runtime, simulator);
  }

  get sandbox(): boolean {
    return this.simulator !== undefined;
  }

  credentials(): WeComCredentials {
    const { corpId, corpSecret, agentId } = this.runtime.current();
    return { corpId, corpSecret, agentId };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.simulator?.stop();
  }
}
