import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';

import { api, ApiError, call, type Schemas } from '../api';
import { Badge, Field, fieldError, Loading, Notice, Pager, ProblemMessage } from '../components';
import { useI18n } from '../i18n';
import { Link } from '../router';
import { MessagePreview } from './MessagePreview';

type Message = Schemas['MessageDto'];
type Status = NonNullable<Message['status']>;
const STATUSES: Status[] = [
  'queued',
  'sending',
  'sent',
  'partially_sent',
  'failed',
  'skipped',
  'recalled',
];
const MOVING = new Set<string>(['queued', 'sending']);

interface Filters {
  status: Status | '';
  kind: string;
  interviewId: string;
  recipient: string;
  since: string;
}
const NO_FILTERS: Filters = { status: '', kind: '', interviewId: '', recipient: '', since: '' };

export function MessagesPage() {
  const { t, time } = useI18n();
  const [form, setForm] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const list = useQuery({
    queryKey: ['messages', filters, cursor],
    queryFn: () =>
      call(
        api.GET('/api/messages', {
          params: {
            query: {
              limit: 25,
              ...(cursor ? { cursor } : {}),
              ...(filters.status ? { status: filters.status } : {}),
              ...(filters.kind ? { kind: filters.kind } : {}),
              ...(filters.interviewId ? { interviewId: filters.interviewId } : {}),
              ...(filters.recipient ? { recipient: filters.recipient } : {}),
              ...(filters.since ? { since: new Date(filters.since).toISOString() } : {}),
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
    // Watch messages on their way: refresh while any of them is queued or being sent.
    refetchInterval: (q) => (q.state.data?.items.some((m) => MOVING.has(m.status)) ? 1500 : false),
  });
  const set = (k: keyof Filters) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [k]: e.target.value }));
  const apply = (e: FormEvent) => {
    e.preventDefault();
    setCursors([]);
    setFilters({
      ...form,
      kind: form.kind.trim(),
      interviewId: form.interviewId.trim(),
      recipient: form.recipient.trim(),
    });
  };
  return (
    <>
      <h1>{t('messages.title')}</h1>
      <form className="filters card" onSubmit={apply} role="search" aria-label={t('common.filter')}>
        <Field id="f-status" label={t('messages.status')}>
          <select id="f-status" value={form.status} onChange={set('status')}>
            <option value="">{t('common.any')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <Field id="f-kind" label={t('messages.kind')} error={fieldError(list.error, 'kind')}>
          <input
            id="f-kind"
            value={form.kind}
            onChange={set('kind')}
            placeholder="interview.invited"
          />
        </Field>
        <Field
          id="f-interview"
          label={t('messages.interview')}
          error={fieldError(list.error, 'interviewId')}
        >
          <input id="f-interview" value={form.interviewId} onChange={set('interviewId')} />
        </Field>
        <Field
          id="f-recipient"
          label={t('messages.recipient')}
          error={fieldError(list.error, 'recipient')}
        >
          <input id="f-recipient" value={form.recipient} onChange={set('recipient')} />
        </Field>
        <Field id="f-since" label={t('messages.since')}>
          <input id="f-since" type="datetime-local" value={form.since} onChange={set('since')} />
        </Field>
        <div className="actions">
          <button type="submit" className="primary">
            {t('common.filter')}
          </button>
          <button
            type="button"
            onClick={() => {
              setForm(NO_FILTERS);
              setFilters(NO_FILTERS);
              setCursors([]);
            }}
          >
            {t('common.clear')}
          </button>
        </div>
      </form>
      {!fieldError(list.error, 'kind') && <ProblemMessage error={list.error} />}
      <p className="muted small">{t('messages.live')}</p>
      {list.isPending ? (
        <Loading />
      ) : (
        list.data && (
          <section className="card" aria-label={t('messages.title')}>
            <table>
              <caption className="visually-hidden">{t('messages.title')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('messages.created')}</th>
                  <th scope="col">{t('messages.kind')}</th>
                  <th scope="col">{t('messages.type')}</th>
                  <th scope="col">{t('messages.status')}</th>
                  <th scope="col">{t('messages.attempts')}</th>
                  <th scope="col">{t('messages.lastError')}</th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.length === 0 && (
                  <tr>
                    <td colSpan={6} className="muted">
                      {t('common.none')}
                    </td>
                  </tr>
                )}
                {list.data.items.map((m) => (
                  <tr key={m.id} data-message={m.id}>
                    <td>
                      <Link to={`/messages/${m.id}`}>{time(m.createdAt)}</Link>
                    </td>
                    <td>{m.kind}</td>
                    <td>{m.msgtype}</td>
                    <td>
                      <Badge value={m.status} />
                    </td>
                    <td>{m.attempts}</td>
                    <td className="small">
                      {m.lastErrcode !== null ? `${m.lastErrcode} ${m.lastErrmsg ?? ''}` : ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager
              next={list.data.nextCursor}
              onNext={(c) => setCursors((cs) => [...cs, c])}
              onFirst={() => setCursors([])}
              atFirst={cursors.length === 0}
            />
          </section>
        )
      )}
    </>
  );
}

const RECALL_WINDOW_MS = 24 * 3600 * 1000;

export function MessagePage({ id }: { id: string }) {
  const { t, time } = useI18n();
  const client = useQueryClient();
  const message = useQuery({
    queryKey: ['message', id],
    queryFn: () => call(api.GET('/api/messages/{id}', { params: { path: { id } } })),
    refetchInterval: (q) => (q.state.data && MOVING.has(q.state.data.status) ? 1500 : false),
  });
  const updated = (data: Message) => {
    client.setQueryData(['message', id], data);
    void client.invalidateQueries({ queryKey: ['messages'] });
  };
  const retry = useMutation({
    mutationFn: () => call(api.POST('/api/messages/{id}/retry', { params: { path: { id } } })),
    onSuccess: updated,
  });
  const recall = useMutation({
    mutationFn: (includeShared: boolean) =>
      call(
        api.POST('/api/messages/{id}/recall', {
          params: {
            path: { id },
            query: includeShared ? { includeShared: 'true' } : {},
          },
        }),
      ),
    onSuccess: updated,
  });
  if (message.isPending) return <Loading />;
  if (message.isError) return <ProblemMessage error={message.error} />;
  const m = message.data;
  const canRetry =
    (m.status === 'failed' || m.status === 'partially_sent') &&
    (m.recipients ?? []).some((r) => r.status === 'failed');
  const canRecall =
    (m.status === 'sent' || m.status === 'partially_sent') &&
    m.sentAt !== null &&
    Date.now() - Date.parse(m.sentAt) < RECALL_WINDOW_MS;
  const shared =
    recall.error instanceof ApiError && Array.isArray(recall.error.problem.sharedWith)
      ? recall.error.problem.sharedWith.length
      : 0;
  return (
    <>
      <p>
        <Link to="/messages">← {t('messages.title')}</Link>
      </p>
      <h1>
        {t('messages.detail')} <Badge value={m.status} />
      </h1>
      <div className="columns">
        <section className="card" aria-labelledby="summary-title">
          <h2 id="summary-title">{t('common.details')}</h2>
          <dl className="pairs">
            <dt>{t('messages.kind')}</dt>
            <dd>{m.kind}</dd>
            <dt>{t('messages.type')}</dt>
            <dd>{m.msgtype}</dd>
            <dt>{t('messages.created')}</dt>
            <dd>{time(m.createdAt)}</dd>
            <dt>{t('messages.sentAt')}</dt>
            <dd>{time(m.sentAt)}</dd>
            {m.nextAttemptAt && (
              <>
                <dt>{t('messages.nextAttempt')}</dt>
                <dd>{time(m.nextAttemptAt)}</dd>
              </>
            )}
            <dt>{t('messages.attempts')}</dt>
            <dd>{m.attempts}</dd>
            {m.interviewId && (
              <>
                <dt>{t('messages.interview')}</dt>
                <dd>
                  <Link to={`/interviews/${m.interviewId}`}>{m.interviewId}</Link>
                </dd>
              </>
            )}
            {m.wecomMsgid && (
              <>
                <dt>{t('messages.msgid')}</dt>
                <dd className="mono">{m.wecomMsgid}</dd>
              </>
            )}
            {m.lastErrcode !== null && (
              <>
                <dt>{t('messages.lastError')}</dt>
                <dd>
                  {m.lastErrcode} {m.lastErrmsg}
                </dd>
              </>
            )}
          </dl>
          <div className="actions">
            {canRetry && (
              <button
                type="button"
                className="primary"
                onClick={() => retry.mutate()}
                disabled={retry.isPending}
              >
                {t('messages.retry')}
              </button>
            )}
            {canRecall && (
              <button
                type="button"
                className="danger"
                onClick={() => recall.mutate(false)}
                disabled={recall.isPending}
              >
                {t('messages.recall')}
              </button>
            )}
          </div>
          {retry.isSuccess && <Notice>{t('messages.retried')}</Notice>}
          {recall.isSuccess && <Notice>{t('messages.recalled')}</Notice>}
          <ProblemMessage error={retry.error} />
          {shared > 0 ? (
            <div className="alert error" role="alert">
              <p>{t('messages.recallShared', { count: shared })}</p>
              <button type="button" className="danger" onClick={() => recall.mutate(true)}>
                {t('messages.recallAll')}
              </button>
            </div>
          ) : (
            <ProblemMessage error={recall.error} />
          )}
        </section>
        <section className="card" aria-labelledby="preview-title">
          <h2 id="preview-title">{t('messages.preview')}</h2>
          <MessagePreview msgtype={m.msgtype} content={m.content} />
        </section>
      </div>
      <section className="card" aria-labelledby="recipients-title">
        <h2 id="recipients-title">{t('messages.recipients')}</h2>
        <table>
          <caption className="visually-hidden">{t('messages.recipients')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('people.platformUserId')}</th>
              <th scope="col">{t('people.wecomUserId')}</th>
              <th scope="col">{t('messages.status')}</th>
              <th scope="col">{t('messages.deliveredAt')}</th>
              <th scope="col">{t('messages.why')}</th>
            </tr>
          </thead>
          <tbody>
            {(m.recipients ?? []).map((r, i) => (
              <tr key={`${r.platformUserId}-${r.wecomUserId}-${i}`}>
                <td>{r.platformUserId ?? '—'}</td>
                <td>{r.wecomUserId ?? '—'}</td>
                <td>
                  <Badge value={r.status} />
                </td>
                <td>{time(r.deliveredAt)}</td>
                <td className="small">
                  {r.detail ??
                    (r.notBefore ? `${t('messages.nextAttempt')}: ${time(r.notBefore)}` : '')}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card" aria-labelledby="attempts-title">
        <h2 id="attempts-title">{t('messages.attemptLog')}</h2>
        {(m.attemptLog ?? []).length === 0 ? (
          <p className="muted">{t('messages.noAttempts')}</p>
        ) : (
          <table>
            <caption className="visually-hidden">{t('messages.attemptLog')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('messages.startedAt')}</th>
                <th scope="col">{t('messages.errcode')}</th>
                <th scope="col">{t('messages.errmsg')}</th>
                <th scope="col">{t('messages.http')}</th>
                <th scope="col">{t('messages.latency')}</th>
                <th scope="col">{t('messages.count')}</th>
              </tr>
            </thead>
            <tbody>
              {(m.attemptLog ?? []).map((a, i) => (
                <tr key={`${a.startedAt}-${i}`}>
                  <td>{time(a.startedAt)}</td>
                  <td>{a.errcode ?? '—'}</td>
                  <td className="small">{a.errmsg}</td>
                  <td>{a.httpStatus ?? '—'}</td>
                  <td>{a.latencyMs} ms</td>
                  <td>{a.recipientCount}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
