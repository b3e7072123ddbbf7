import type { AddressInfo } from 'node:net';

import {
  type DynamicModule,
  type INestApplication,
  Logger,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';

import { organizationScope } from '../../src/common/organization-scope.js';
import { StartupError } from '../../src/common/startup-error.js';
import type { EnvironmentVariables } from '../../src/config/env.validation.js';
import { DEFAULT_ORGANIZATION } from '../../src/organizations/organization.js';
import { type EffectiveSettings, RuntimeSettings } from '../../src/settings/runtime-settings.js';
import { SettingsChangedEvent } from '../../src/settings/settings-events.js';
import { SANDBOX_ADMIN_USERID } from '../../src/sign-in/console-sign-in.js';
import { DEFAULT_USERS, type SimulatedUser } from './member-directory.js';
import { SandboxSignInController, SIMULATOR_URL } from './sandbox-sign-in.controller.js';
import { loadUsersFile, WeComSimulator } from './wecom-simulator.js';

/** The member the admin console's sandbox sign-in signs in as (CONSOLE_ADMINS in sandbox mode). */
export const SANDBOX_ADMIN: SimulatedUser = { userid: SANDBOX_ADMIN_USERID, name: '沙箱管理员' };

/** Carries the sandbox into the app, so that closing the app stops the simulator. */
@Module({})
class WeComSandboxModule {}

/**
 * Sandbox mode (WECOM_SANDBOX=true, or no WECOM_CORP_ID outside production), as main.ts runs it
 * and the e2e helper copies: the WeCom simulator starts before the app on SIMULATOR_PORT (or the
 * one another sandbox instance runs there is shared), the app talks to it as WECOM_API_BASE_URL
 * over real HTTP, exactly as it would to qyapi.weixin.qq.com, and once the app listens the
 * simulator pushes its events to the app's /wecom/callback.
 *
 *   const sandbox = await WeComSandbox.start(env);
 *   const app = await NestFactory.create(sandbox.around(AppModule.forRoot(sandbox.env)));
 *   await app.listen(port);
 *   await sandbox.connect(app);
 */
export class WeComSandbox implements OnApplicationShutdown {
  private readonly logger = new Logger(WeComSandbox.name);
  private callbackUrl?: string;
  private unsubscribe?: () => void;

  private constructor(
    /** The app's environment: the given one with WECOM_API_BASE_URL aimed at the simulator. */
    readonly env: EnvironmentVariables,
    /** The simulator this process runs; undefined when it uses another process's. */
    readonly simulator?: WeComSimulator,
  ) {}

  /** The simulator's base URL, this process's or the shared one. */
  get url(): string {
    return this.env.WECOM_API_BASE_URL;
  }

  static async start(env: EnvironmentVariables): Promise<WeComSandbox> {
    const logger = new Logger(WeComSandbox.name);
    const creds = {
      corpId: env.SIMULATOR_CORP_ID,
      corpSecret: env.SIMULATOR_CORP_SECRET,
      agentId: env.SIMULATOR_AGENT_ID,
    };
    const usersFile = env.SIMULATOR_USERS_FILE;
    const users = usersFile ? loadUsersFile(usersFile) : [...DEFAULT_USERS];
    if (!users.some((u) => u.userid.toLowerCase() === SANDBOX_ADMIN_USERID))
      users.push(SANDBOX_ADMIN);
    const simulator = new WeComSimulator({
      ...creds,
      latencyMs: env.SIMULATOR_LATENCY_MS,
      tokenTtlSeconds: env.SIMULATOR_TOKEN_TTL_S,
      tokenMode: env.SIMULATOR_TOKEN_MODE,
      callbackTimeoutMs: env.SIMULATOR_CALLBACK_TIMEOUT_MS,
      users,
    });
    const why = env.WECOM_SANDBOX ? 'WECOM_SANDBOX=true' : 'WECOM_CORP_ID is unset';
    const port = env.SIMULATOR_PORT;
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
      return new WeComSandbox({ ...env, WECOM_API_BASE_URL: shared });
    }
    logger.warn(
      `WeCom: SANDBOX mode (${why}): built-in simulator at ${baseUrl}, ` +
        `corp ${creds.corpId}, agent ${creds.agentId}; see what members received at ${baseUrl}/__simulator/messages?touser=zhangsan`,
    );
    return new WeComSandbox({ ...env, WECOM_API_BASE_URL: baseUrl }, simulator);
  }

  /** The app's root module with this sandbox in it: the app's shutdown stops the simulator. */
  around(root: DynamicModule): DynamicModule {
    return {
      module: WeComSandboxModule,
      imports: [root],
      // The stand-in for WeCom's sign-in pages: the console's sandbox sign-in goes through it.
      controllers: [SandboxSignInController],
      // A factory, not useValue: Nest would hash the whole simulator into the module's key.
      providers: [
        { provide: WeComSandbox, useFactory: () => this },
        { provide: SIMULATOR_URL, useFactory: () => this.url },
      ],
    };
  }

  /**
   * Once the app listens: the simulated app pushes its events (card taps, contact changes) to
   * the app's /wecom/callback with organisation `default`'s callback Token and EncodingAESKey
   * (the sandbox's app is `default`'s), and follows its admin's change of them. Nothing to do
   * when another process runs the simulator.
   */
  async connect(app: INestApplication): Promise<void> {
    if (!this.simulator) return;
    const { port } = app.getHttpServer().address() as AddressInfo;
    this.callbackUrl = new URL('/wecom/callback', `http://127.0.0.1:${port}`).toString();
    const runtime = app.get(RuntimeSettings);
    const events = app.get(EventEmitter2);
    const follow = (event: SettingsChangedEvent) => {
      if (event.organizationId === DEFAULT_ORGANIZATION.id) this.aim(event.next);
    };
    this.unsubscribe?.();
    events.on(SettingsChangedEvent.key, follow);
    this.unsubscribe = () => events.off(SettingsChangedEvent.key, follow);
    this.aim(await organizationScope.run(DEFAULT_ORGANIZATION, () => runtime.current()));
    this.logger.log(`WeCom simulator pushes events to ${this.callbackUrl}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.simulator?.stop();
  }

  private aim(settings: EffectiveSettings): void {
    if (!this.simulator || !this.callbackUrl) return;
    const { callbackToken: token, callbackAesKey: encodingAesKey } = settings;
    this.simulator.setCallback(
      token && encodingAesKey ? { url: this.callbackUrl, token, encodingAesKey } : null,
    );
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
