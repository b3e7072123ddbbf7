import {
  BadGatewayException,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  UnprocessableEntityException,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

import { requireOrganizationScope } from '../common/organization-scope.js';
import { ProblemType } from '../common/problem-details.js';
import { currentRequestId } from '../common/request-context.js';
import { ValidationProblemException } from '../common/validation-problem.js';
import type { AppConfigService } from '../config/app-config.js';
import { ConfigAuditService, type ConfigAuditRecord } from '../settings/config-audit.service.js';
import { DEFAULT_ORGANIZATION } from '../organizations/organization.js';
import {
  RuntimeSettings,
  WeComAppTakenError,
  type EditableSettings,
  type EffectiveSettings,
} from '../settings/runtime-settings.js';
import { WeComApiError } from '../wecom/client/wecom-api.error.js';
import {
  callerIpFromErrmsg,
  credentialsAdvice,
  isCredentialsRejected,
} from '../wecom/client/wecom-retry-policy.js';
import { WeComClient } from '../wecom/client/wecom.client.js';
import { AccessTokenProvider } from '../wecom/token/access-token.provider.js';
import type {
  AdminConfigView,
  PatchAdminConfigDto,
  SecretView,
  UpdateAdminConfigDto,
} from './dto/admin-config.dto.js';

const SECRET_FIELDS = ['corpSecret', 'callbackToken', 'callbackAesKey'] as const;
const CREDENTIAL_FIELDS = new Set(['corpId', 'agentId', 'corpSecret']);

/** An audit record as the API shows it: the time as an ISO string. */
export type AuditItem = Omit<ConfigAuditRecord, 'at'> & { at: string };

export interface WeComCheckResult {
  ok: boolean;
  corpId: string;
  agentId: number;
  /** What WeCom answered: 0 on success. Null when it could not be reached. */
  errcode: number | null;
  errmsg: string;
  expiresIn?: number;
  /** When WeCom refused the configuration: what to configure, in plain words. */
  action?: string;
  /** The address WeCom saw (parsed from its errmsg), when it said. */
  fromIp?: string | null;
}

/**
 * The admin's view of the runtime configuration of their organisation (the request's scope):
 * read (secrets masked), change (credentials tried against WeCom before they are saved), audit,
 * and the "test connection" check. Nothing here names an organisation: the scope does.
 */
@Injectable()
export class AdminConfigService {
  private readonly logger = new Logger(AdminConfigService.name);
  private readonly baseUrl: string;

  constructor(
    private readonly runtime: RuntimeSettings,
    private readonly client: WeComClient,
    private readonly tokens: AccessTokenProvider,
    private readonly auditTrail: ConfigAuditService,
    @Inject(ConfigService) config: AppConfigService,
  ) {
    const base =
      config.get('PUBLIC_BASE_URL', { infer: true }) ??
      `http://localhost:${config.get('PORT', { infer: true })}`;
    this.baseUrl = base.replace(/\/+$/, '');
  }

  async view(): Promise<AdminConfigView> {
    const s = await this.runtime.current();
    return {
      version: s.version,
      configured: s.configured,
      corpId: s.corpId,
      agentId: s.agentId,
      corpSecret: mask(s.corpSecret),
      callbackToken: mask(s.callbackToken),
      callbackAesKey: mask(s.callbackAesKey),
      callbackUrl: this.callbackUrl(),
      sandbox: s.sandbox,
      token: this.tokens.status(),
      reminderLeadTimesMin: s.options.reminderLeadTimesMin,
      feedbackNudgeMin: s.options.feedbackNudgeMin,
      feedbackNudgeEnabled: s.options.feedbackNudgeMin > 0,
      quietHours: s.options.quietHours,
      defaultLanguage: s.options.defaultLanguage,
      updatedAt: s.updatedAt?.toISOString() ?? null,
      updatedBy: s.updatedBy,
    };
  }

  /**
   * PUT and PATCH. Unchanged input changes nothing (no new version, no audit entry). New
   * credentials must obtain a token first: a refusal is a 422 with WeCom's errcode and the
   * configuration in force stays as it was. New credentials that are saved make the old token
   * and tickets go (WeComCredentialsService, on the SettingsChangedEvent) before this returns.
   * An organisation's first save names its WeCom app; a WeCom app another organisation has is
   * a 403 once WeCom accepted the secret (before, nothing says whose it is), nothing changed.
   */
  async update(input: UpdateAdminConfigDto | PatchAdminConfigDto, actor: string) {
    const current = await this.runtime.current();
    const next = merge(current, input);
    if (!current.configured) requireApp(next);
    if (!next.callbackToken !== !next.callbackAesKey) {
      throw new ValidationProblemException([
        {
          field: next.callbackToken ? 'callbackAesKey' : 'callbackToken',
          message:
            'callbackToken and callbackAesKey are set together (or both null to turn callbacks off)',
        },
      ]);
    }
    const fields = changedFields(current, next);
    if (fields.length === 0) return this.view();
    const requestId = currentRequestId() ?? null;

    const credentialsChanged = fields.some((f) => CREDENTIAL_FIELDS.has(f));
    if (credentialsChanged) {
      try {
        await this.client.fetchAccessToken(next, { backoff: { maxRetries: 1 } });
      } catch (error) {
        if (!(error instanceof WeComApiError)) throw error;
        const detail = error.errcode !== null ? `errcode ${error.errcode}` : 'unreachable';
        await this.runtime.record({
          actor,
          action: 'update',
          fields,
          outcome: 'rejected',
          detail,
          requestId,
        });
        if (error.errcode === null) {
          throw new BadGatewayException(
            'WeCom could not be reached to check the new credentials; nothing was changed',
          );
        }
        throw new UnprocessableEntityException({
          type: ProblemType.wecomCredentialsRejected,
          message: `WeCom refused the new credentials (errcode ${error.errcode}); the configuration in force is unchanged`,
          errcode: error.errcode,
        });
      }
    }

    try {
      await this.runtime.save(next, {
        actor,
        action: 'update',
        fields,
        outcome: 'applied',
        requestId,
      });
    } catch (error) {
      if (!(error instanceof WeComAppTakenError)) throw error;
      await this.runtime.record({
        actor,
        action: 'update',
        fields,
        outcome: 'rejected',
        detail: 'WeCom app configured for another organisation',
        requestId,
      });
      throw new ForbiddenException({
        type: ProblemType.wecomAppTaken,
        message: `${error.message}; the configuration in force is unchanged`,
      });
    }
    this.logger.log(`Configuration changed by ${actor}: ${fields.join(', ')}`);
    return this.view();
  }

  /** Calls gettoken with the credentials in force and reports what WeCom said. */
  async check(actor: string): Promise<WeComCheckResult> {
    const s = await this.runtime.current();
    const base = { corpId: s.corpId, agentId: s.agentId };
    let result: WeComCheckResult;
    if (!s.configured) {
      result = {
        ...base,
        ok: false,
        errcode: null,
        errmsg: 'This organisation has no WeCom app configured; WeCom was not asked',
        action: 'Set corpId, agentId and corpSecret in /api/admin/config',
      };
      await this.recordCheck(actor, result);
      return result;
    }
    try {
      const res = await this.client.fetchAccessToken(s, { backoff: { maxRetries: 1 } });
      result = { ...base, ok: true, errcode: 0, errmsg: 'ok', expiresIn: res.expires_in };
      // gettoken works from anywhere; the trusted IPs (60020) refuse the calls after it. The
      // last such refusal stands until a call succeeds or the pause after it ends.
      const status = this.tokens.status();
      if (status.status === 'misconfigured' && status.errcode === 60020) {
        result = {
          ...base,
          ok: false,
          errcode: 60020,
          errmsg: 'gettoken works, but WeCom refused the last API call: address not trusted',
          action: status.action,
          fromIp: status.fromIp,
        };
      }
    } catch (error) {
      if (!(error instanceof WeComApiError)) throw error;
      result = { ...base, ok: false, errcode: error.errcode, errmsg: error.message };
      if (error.errcode !== null && isCredentialsRejected(error)) {
        result.action = credentialsAdvice(error.errcode, error.errmsg);
        result.fromIp = callerIpFromErrmsg(error.errmsg);
      }
    }
    await this.recordCheck(actor, result);
    return result;
  }

  private async recordCheck(actor: string, result: WeComCheckResult): Promise<void> {
    await this.runtime.record({
      actor,
      action: 'check',
      fields: [],
      outcome: result.ok ? 'applied' : 'rejected',
      detail: result.ok ? null : `errcode ${result.errcode ?? 'none'}`,
      requestId: currentRequestId() ?? null,
    });
  }

  /** Where WeCom must send the organisation's callbacks; `default` keeps the bare path. */
  private callbackUrl(): string {
    const { id, slug } = requireOrganizationScope('The callback URL');
    const path = id === DEFAULT_ORGANIZATION.id ? '/wecom/callback' : `/wecom/callback/${slug}`;
    return `${this.baseUrl}${path}`;
  }

  async audit(
    limit: number,
    cursor?: string,
  ): Promise<{ items: AuditItem[]; nextCursor: string | null }> {
    const before = decodeAuditCursor(cursor);
    const rows = await this.auditTrail.list(limit + 1, before);
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items: items.map((r) => ({ ...r, at: r.at.toISOString() })),
      nextCursor:
        rows.length > limit && last ? Buffer.from(`audit:${last.id}`).toString('base64url') : null,
    };
  }
}

/** An organisation's first save names its WeCom app: corp id, agent id and secret. */
function requireApp(next: EditableSettings): void {
  const missing = [
    next.corpId === '' && 'corpId',
    next.agentId === 0 && 'agentId',
    next.corpSecret === '' && 'corpSecret',
  ].filter((f): f is string => f !== false);
  if (missing.length === 0) return;
  throw new ValidationProblemException(
    missing.map((field) => ({
      field,
      message: `${field} is required: this organisation has no WeCom app configured yet`,
    })),
  );
}

function mask(value: string | null): SecretView {
  return value ? { set: true, last4: value.slice(-4) } : { set: false, last4: null };
}

/** The input over the configuration in force: an absent field keeps its value, null clears. */
function merge(
  current: EffectiveSettings,
  input: UpdateAdminConfigDto | PatchAdminConfigDto,
): EditableSettings {
  const given = <T>(value: T | undefined, fallback: T): T =>
    value === undefined ? fallback : value;
  const quietHours = given(input.quietHours, current.options.quietHours);
  return {
    corpId: given(input.corpId, current.corpId),
    agentId: given(input.agentId, current.agentId),
    corpSecret: given(input.corpSecret, current.corpSecret),
    callbackToken: given(input.callbackToken, current.callbackToken),
    callbackAesKey: given(input.callbackAesKey, current.callbackAesKey),
    options: {
      reminderLeadTimesMin: [
        ...given(input.reminderLeadTimesMin, current.options.reminderLeadTimesMin),
      ].sort((a, b) => a - b),
      feedbackNudgeMin: given(input.feedbackNudgeMin, current.options.feedbackNudgeMin),
      // A plain object: it is stored as JSON and compared as JSON.
      quietHours: quietHours ? { start: quietHours.start, end: quietHours.end } : null,
      defaultLanguage: given(input.defaultLanguage, current.options.defaultLanguage),
    },
  };
}

/** Names of the fields that differ (secrets compared, never reported by value). */
function changedFields(a: EditableSettings, b: EditableSettings): string[] {
  const fields: string[] = [];
  if (a.corpId !== b.corpId) fields.push('corpId');
  if (a.agentId !== b.agentId) fields.push('agentId');
  for (const f of SECRET_FIELDS) if (a[f] !== b[f]) fields.push(f);
  for (const key of Object.keys(b.options) as (keyof EditableSettings['options'])[]) {
    if (JSON.stringify(a.options[key]) !== JSON.stringify(b.options[key])) fields.push(key);
  }
  return fields;
}

function decodeAuditCursor(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const match = /^audit:(\d{1,19})$/.exec(Buffer.from(raw, 'base64url').toString());
  if (!match)
    throw ValidationProblemException.fromMessages(['cursor is not one this API returned']);
  return match[1];
}
