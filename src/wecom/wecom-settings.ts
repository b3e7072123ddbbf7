import { randomBytes } from 'node:crypto';

import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';

import { StartupError } from '../common/startup-error.js';
import { isSandbox, type AppConfigService } from '../config/app-config.js';
import type { EffectiveSettings, RuntimeSettings } from '../settings/runtime-settings.js';
import { loadUsersFile, WeComSimulator } from './simulator/wecom-simulator.js';

export interface WeComCredentials {
  corpId: string;
  corpSecret: string;
  agentId: number;
}

/**
 * Where WeCom is and who we are to it. In sandbox mode (WECOM_SANDBOX=true, or WECOM_CORP_ID
 * unset outside production) the built-in simulator is started in-process on its own port and
 * the client talks to it over real HTTP, exactly as it would to qyapi.weixin.qq.com. The
 * credentials are the runtime configuration's (seeded from the environment, changed by admins
 * without a restart).
 */
@Injectable()
export class WeComSettings implements OnApplicationShutdown {
  private readonly logger = new Logger(WeComSettings.name);
  private callbackUrl?: string;
  private unsubscribe?: () => void;

  private constructor(
    readonly baseUrl: string,
    private readonly runtime: RuntimeSettings,
    /** True in sandbox mode, whether this process runs the simulator or another one does. */
    readonly sandbox: boolean,
    readonly simulator?: WeComSimulator,
  ) {}

  static async create(config: AppConfigService, runtime: RuntimeSettings): Promise<WeComSettings> {
    const logger = new Logger(WeComSettings.name);
    if (!isSandbox(config)) {
      const baseUrl = config.get('WECOM_API_BASE_URL', { infer: true });
      const { corpId, agentId } = runtime.current();
      logger.log(`WeCom: corp ${corpId}, agent ${agentId}, API at ${baseUrl}`);
      return new WeComSettings(baseUrl, runtime, false);
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
      callbackTimeoutMs: config.get('SIMULATOR_CALLBACK_TIMEOUT_MS', { infer: true }),
      ...(usersFile ? { users: loadUsersFile(usersFile) } : {}),
    });
    await ensureSandboxCallbackSecrets(runtime);
    const why = config.get('WECOM_SANDBOX', { infer: true })
      ? 'WECOM_SANDBOX=true'
      : 'WECOM_CORP_ID is unset';
    const port = config.get('SIMULATOR_PORT', { infer: true });
    let baseUrl: string;
    try {
      baseUrl = await simulator.start(port);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      // Another sandbox instance (on the same database) runs the simulator: share it, so both
      // see the same members, tokens and messages.
      const shared = `http://127.0.0.1:${port}`;
      if (!(await isWeComSimulator(shared))) {
        throw new StartupError(
          `SIMULATOR_PORT ${port} is taken by something that is not a WeCom simulator (127.0.0.1:${port}); ` +
            `set SIMULATOR_PORT to a free port (0 picks one)`,
        );
      }
      logger.warn(
        `WeCom: SANDBOX mode (${why}): using the WeCom simulator another process runs at ${shared} ` +
          `(SIMULATOR_PORT ${port} was taken by it); it stops with that process`,
      );
      return new WeComSettings(shared, runtime, true);
    }
    logger.warn(
      `WeCom: SANDBOX mode (${why}): built-in simulator at ${baseUrl}, ` +
        `corp ${creds.corpId}, agent ${creds.agentId}; see what members received at ${baseUrl}/__simulator/messages?touser=zhangsan`,
    );
    const settings = new WeComSettings(baseUrl, runtime, true, simulator);
    // An admin may change the callback Token and key: the simulated app's settings follow.
    settings.unsubscribe = runtime.onChange((next) => settings.aimSimulator(next));
    return settings;
  }

  /**
   * Sandbox mode: the simulated app pushes its events (card taps, contact changes) to this
   * service's callback URL, with the configured Token and EncodingAESKey. Called once the HTTP
   * server listens (main.ts), with the address it listens on.
   */
  connectSimulatorCallback(serviceBaseUrl: string): void {
    if (!this.simulator) return;
    this.callbackUrl = new URL('/wecom/callback', serviceBaseUrl).toString();
    this.aimSimulator(this.runtime.current());
    this.logger.log(`WeCom simulator pushes events to ${this.callbackUrl}`);
  }

  private aimSimulator(settings: EffectiveSettings): void {
    if (!this.simulator || !this.callbackUrl) return;
    const { callbackToken: token, callbackAesKey: encodingAesKey } = settings;
    this.simulator.setCallback(
      token && encodingAesKey ? { url: this.callbackUrl, token, encodingAesKey } : null,
    );
  }

  credentials(): WeComCredentials {
    const { corpId, corpSecret, agentId } = this.runtime.current();
    return { corpId, corpSecret, agentId };
  }

  async onApplicationShutdown(): Promise<void> {
    this.unsubscribe?.();
    await this.simulator?.stop();
  }
}

/** True when `url` answers GET /__simulator/stats the way our simulator does. */
export async function isWeComSimulator(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/__simulator/stats`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return false;
    const stats = (await res.json()) as Record<string, unknown>;
    return (
      typeof stats.calls === 'object' &&
      stats.calls !== null &&
      ['delivered', 'dropped', 'duplicatesSuppressed'].every((k) => typeof stats[k] === 'number')
    );
  } catch {
    return false;
  }
}

/**
 * The sandbox's app has callbacks on, like a configured real one: without a Token and
 * EncodingAESKey (none in the environment, or turned off by an admin) random ones are stored,
 * sealed and audited like any other change. They never leave the process except sealed.
 */
async function ensureSandboxCallbackSecrets(runtime: RuntimeSettings): Promise<void> {
  const current = runtime.current();
  if (current.callbackToken && current.callbackAesKey) return;
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
}
