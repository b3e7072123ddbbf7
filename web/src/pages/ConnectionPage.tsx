import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, type FormEvent } from 'react';

import { api, ApiError, call, type Schemas } from '../api';
import {
  Badge,
  CopyButton,
  describedBy,
  Field,
  fieldError,
  Loading,
  minutesAndHours,
  Notice,
  ProblemMessage,
} from '../components';
import { useI18n, type MessageKey, type Translate } from '../i18n';

type Config = Schemas['AdminConfigViewDto'];
type Check = Schemas['WeComCheckResultDto'];

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `length` letters and digits from the browser's CSPRNG (rejection sampling: no bias). */
export function randomAlphanumeric(length: number): string {
  let out = '';
  const bytes = new Uint8Array(length * 2);
  while (out.length < length) {
    crypto.getRandomValues(bytes);
    for (const b of bytes) {
      if (b < 248 && out.length < length) out += ALNUM[b % 62];
    }
  }
  return out;
}

/** WeCom's answer to "test connection", in words. */
export function describeCheck(result: Check, t: Translate): string {
  if (result.ok) {
    return t('conn.result.ok', { minutes: Math.round((result.expiresIn ?? 7200) / 60) });
  }
  if (result.errcode === null) return t('conn.result.unreachable');
  const known: Record<number, MessageKey> = {
    40001: 'conn.result.40001',
    40013: 'conn.result.40013',
    40091: 'conn.result.40091',
    40056: 'conn.result.40056',
    301002: 'conn.result.301002',
    60020: 'conn.result.60020',
    48002: 'conn.result.48002',
    45009: 'conn.result.45009',
  };
  const key = known[result.errcode];
  if (key) return t(key, { ip: result.fromIp ?? t('conn.unknownIp') });
  return t('conn.result.other', { errcode: result.errcode, errmsg: result.errmsg });
}

export function ConnectionPage() {
  const { t } = useI18n();
  const config = useQuery({
    queryKey: ['config'],
    queryFn: () => call(api.GET('/api/admin/config')),
    refetchInterval: 30_000,
  });
  return (
    <>
      <h1>{t('conn.title')}</h1>
      {config.isPending && <Loading />}
      {config.isError && <ProblemMessage error={config.error} />}
      {config.data && (
        <>
          <Credentials config={config.data} />
          <TokenStatus config={config.data} updatedAt={config.dataUpdatedAt} />
          <Callback config={config.data} />
        </>
      )}
    </>
  );
}

function Credentials({ config }: { config: Config }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [corpId, setCorpId] = useState(config.corpId);
  const [agentId, setAgentId] = useState(String(config.agentId));
  const [secret, setSecret] = useState('');
  const save = useMutation({
    mutationFn: () => {
      const body: Schemas['PatchAdminConfigDto'] = {};
      if (corpId !== config.corpId) body.corpId = corpId;
      if (agentId !== String(config.agentId)) body.agentId = Number(agentId);
      if (secret) body.corpSecret = secret;
      return call(api.PATCH('/api/admin/config', { body }));
    },
    onSuccess: (data) => {
      setSecret('');
      client.setQueryData(['config'], data);
    },
  });
  const check = useMutation({
    mutationFn: () => call(api.POST('/api/admin/wecom/check')),
    onSettled: () => client.invalidateQueries({ queryKey: ['config'] }),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const refused =
    save.error instanceof ApiError && save.error.status === 422
      ? t('conn.problem.422', { errcode: String(save.error.problem.errcode ?? '?') })
      : null;
  return (
    <section aria-labelledby="app-title" className="card">
      <h2 id="app-title">{t('conn.app')}</h2>
      <form onSubmit={submit} noValidate>
        <Field id="corpId" label={t('conn.corpId')} error={fieldError(save.error, 'corpId')}>
          <input
            id="corpId"
            value={corpId}
            onChange={(e) => setCorpId(e.target.value)}
            autoComplete="off"
            aria-describedby={describedBy('corpId', undefined, fieldError(save.error, 'corpId'))}
          />
        </Field>
        <Field id="agentId" label={t('conn.agentId')} error={fieldError(save.error, 'agentId')}>
          <input
            id="agentId"
            inputMode="numeric"
            value={agentId}
            onChange={(e) => setAgentId(e.target.value)}
            autoComplete="off"
            aria-describedby={describedBy('agentId', undefined, fieldError(save.error, 'agentId'))}
          />
        </Field>
        <p>
          <strong>{t('conn.secret')}:</strong>{' '}
          {config.corpSecret.set
            ? t('conn.secretSet', { last4: config.corpSecret.last4 ?? '' })
            : t('conn.secretUnset')}
        </p>
        <Field
          id="corpSecret"
          label={t('conn.secretNew')}
          help={t('conn.secretHint')}
          error={fieldError(save.error, 'corpSecret')}
        >
          <input
            id="corpSecret"
            type="password"
            value={secret}
            onChange={(e) => setSecret(e.target.value)}
            autoComplete="new-password"
            aria-describedby={describedBy(
              'corpSecret',
              'help',
              fieldError(save.error, 'corpSecret'),
            )}
          />
        </Field>
        {refused ? (
          <div className="alert error" role="alert">
            {refused}
          </div>
        ) : (
          <ProblemMessage error={save.error} />
        )}
        {save.isSuccess && <Notice>{t('common.saved')}</Notice>}
        <div className="actions">
          <button type="submit" className="primary" disabled={save.isPending}>
            {save.isPending ? t('common.saving') : t('common.save')}
          </button>
          <button type="button" onClick={() => check.mutate()} disabled={check.isPending}>
            {check.isPending ? t('conn.testing') : t('conn.test')}
          </button>
        </div>
      </form>
      <div aria-live="polite">
        {check.data && (
          <div
            className={`alert ${check.data.ok ? 'ok' : 'error'}`}
            data-testid="check-result"
            role={check.data.ok ? 'status' : 'alert'}
          >
            <p>{describeCheck(check.data, t)}</p>
            {!check.data.ok && check.data.action && (
              <p className="small">{t('conn.result.advice', { action: check.data.action })}</p>
            )}
          </div>
        )}
        <ProblemMessage error={check.error} />
      </div>
    </section>
  );
}

function TokenStatus({ config, updatedAt }: { config: Config; updatedAt: number }) {
  const { t } = useI18n();
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const { token } = config;
  const left =
    typeof token.tokenSecondsLeft === 'number'
      ? Math.max(0, token.tokenSecondsLeft - Math.floor((now - updatedAt) / 1000))
      : null;
  return (
    <section aria-labelledby="token-title" className="card">
      <h2 id="token-title">{t('conn.token')}</h2>
      <p>
        <Badge value={token.status} /> {t(`conn.tokenState.${token.status}` as MessageKey)}
      </p>
      <p data-testid="token-left">
        {left !== null ? t('conn.tokenLeft', { time: minutesAndHours(left) }) : t('conn.tokenNone')}
      </p>
      {token.status === 'misconfigured' && token.action && <p className="small">{token.action}</p>}
    </section>
  );
}

function Callback({ config }: { config: Config }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [generated, setGenerated] = useState<{ token: string; aesKey: string } | null>(null);
  const save = useMutation({
    mutationFn: (values: { token: string; aesKey: string }) =>
      call(
        api.PATCH('/api/admin/config', {
          body: { callbackToken: values.token, callbackAesKey: values.aesKey },
        }),
      ),
    onSuccess: (data) => client.setQueryData(['config'], data),
  });
  const masked = (s: Schemas['SecretViewDto']) =>
    s.set ? t('conn.secretSet', { last4: s.last4 ?? '' }) : t('conn.secretUnset');
  return (
    <section aria-labelledby="callback-title" className="card">
      <h2 id="callback-title">{t('conn.callback')}</h2>
      <p>{t('conn.callbackIntro')}</p>
      <dl className="pairs">
        <dt>{t('conn.callbackUrl')}</dt>
        <dd>
          <code>{config.callbackUrl}</code>{' '}
          <CopyButton value={config.callbackUrl} label={t('conn.callbackUrl')} />
        </dd>
        <dt>{t('conn.callbackToken')}</dt>
        <dd>{masked(config.callbackToken)}</dd>
        <dt>{t('conn.callbackAesKey')}</dt>
        <dd>{masked(config.callbackAesKey)}</dd>
      </dl>
      <button
        type="button"
        onClick={() => {
          save.reset();
          setGenerated({ token: randomAlphanumeric(32), aesKey: randomAlphanumeric(43) });
        }}
      >
        {t('conn.generate')}
      </button>
      {generated && (
        <div className="generated">
          <p>{t('conn.generated')}</p>
          <Field id="newToken" label={t('conn.callbackToken')}>
            <span className="inline">
              <input id="newToken" readOnly value={generated.token} className="mono" />
              <CopyButton value={generated.token} label={t('conn.callbackToken')} />
            </span>
          </Field>
          <Field id="newAesKey" label={t('conn.callbackAesKey')}>
            <span className="inline">
              <input id="newAesKey" readOnly value={generated.aesKey} className="mono wide" />
              <CopyButton value={generated.aesKey} label={t('conn.callbackAesKey')} />
            </span>
          </Field>
          {!save.isSuccess && (
            <button
              type="button"
              className="primary"
              onClick={() => save.mutate(generated)}
              disabled={save.isPending}
            >
              {save.isPending ? t('common.saving') : t('conn.saveCallback')}
            </button>
          )}
        </div>
      )}
      <ProblemMessage error={save.error} />
      {save.isSuccess && <Notice>{t('common.saved')}</Notice>}
    </section>
  );
}
