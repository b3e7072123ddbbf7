import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';

import { api, call } from '../api';
import { Badge, Loading, Pager, ProblemMessage } from '../components';
import { useI18n, type MessageKey } from '../i18n';
import { Link } from '../router';

/** Upcoming interviews (read-only: recruiters change them in ShowMeBug). */
export function InterviewsPage() {
  const { t, time } = useI18n();
  // Fixed when the page opens, so that paging walks one list.
  const [from] = useState(() => new Date().toISOString());
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const list = useQuery({
    queryKey: ['interviews', from, cursor],
    queryFn: () =>
      call(
        api.GET('/api/interviews', {
          params: {
            query: { from, status: 'scheduled', limit: 50, ...(cursor ? { cursor } : {}) },
          },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  const items = [...(list.data?.items ?? [])].sort(
    (a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt),
  );
  return (
    <>
      <h1>{t('interviews.title')}</h1>
      <ProblemMessage error={list.error} />
      {list.isPending ? (
        <Loading />
      ) : (
        <section className="card" aria-labelledby="upcoming-title">
          <h2 id="upcoming-title">{t('interviews.upcoming')}</h2>
          <table>
            <caption className="visually-hidden">{t('interviews.upcoming')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('interviews.starts')}</th>
                <th scope="col">{t('interviews.name')}</th>
                <th scope="col">{t('interviews.candidate')}</th>
                <th scope="col">{t('common.status')}</th>
              </tr>
            </thead>
            <tbody>
              {items.length === 0 && (
                <tr>
                  <td colSpan={4} className="muted">
                    {t('common.none')}
                  </td>
                </tr>
              )}
              {items.map((i) => (
                <tr key={i.id}>
                  <td>
                    {time(i.startsAt)}
                    <div className="muted small">
                      {i.localStartsAt} {i.timezone} ·{' '}
                      {t('interviews.duration', { minutes: i.durationMinutes })}
                    </div>
                  </td>
                  <td>
                    <Link to={`/interviews/${i.id}`}>{i.title}</Link>
                    {i.position && <div className="muted small">{i.position}</div>}
                  </td>
                  <td>{i.candidate.name}</td>
                  <td>
                    <Badge value={i.status} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager
            next={list.data?.nextCursor}
            onNext={(c) => setCursors((cs) => [...cs, c])}
            onFirst={() => setCursors([])}
            atFirst={cursors.length === 0}
          />
        </section>
      )}
    </>
  );
}

export function InterviewPage({ id }: { id: string }) {
  const { t, time } = useI18n();
  const details = useQuery({
    queryKey: ['interview', id],
    queryFn: () => call(api.GET('/api/interviews/{id}', { params: { path: { id } } })),
  });
  const messages = useQuery({
    queryKey: ['interview-messages', id],
    queryFn: () => call(api.GET('/api/interviews/{id}/messages', { params: { path: { id } } })),
    refetchInterval: (q) =>
      q.state.data?.some((m) => m.status === 'queued' || m.status === 'sending') ? 1500 : false,
  });
  if (details.isPending) return <Loading />;
  if (details.isError) return <ProblemMessage error={details.error} />;
  const { interview: i, participants, reminders, unreachable } = details.data;
  return (
    <>
      <p>
        <Link to="/interviews">← {t('interviews.title')}</Link>
      </p>
      <h1>
        {i.title} <Badge value={i.status} />
      </h1>
      <section className="card" aria-labelledby="interview-title">
        <h2 id="interview-title">{t('common.details')}</h2>
        <dl className="pairs">
          <dt>{t('interviews.starts')}</dt>
          <dd>
            {time(i.startsAt)}{' '}
            <span className="muted small">
              ({i.localStartsAt} {i.timezone})
            </span>
          </dd>
          <dt>{t('interviews.candidate')}</dt>
          <dd>{i.candidate.name}</dd>
          <dt>{t('interviews.room')}</dt>
          <dd>
            <a href={i.roomUrl} target="_blank" rel="noreferrer noopener">
              {i.roomUrl}
            </a>
          </dd>
        </dl>
      </section>
      {unreachable.length > 0 && (
        <div className="alert error" role="alert">
          <strong>{t('interviews.unreachable')}:</strong>
          <ul>
            {unreachable.map((u) => (
              <li key={u.platformUserId}>
                {u.platformUserId} ({u.role}): {u.detail}
              </li>
            ))}
          </ul>
        </div>
      )}
      <section className="card" aria-labelledby="participants-title">
        <h2 id="participants-title">{t('interviews.participants')}</h2>
        <table>
          <caption className="visually-hidden">{t('interviews.participants')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('people.platformUserId')}</th>
              <th scope="col">{t('interviews.role')}</th>
              <th scope="col">{t('interviews.rsvp')}</th>
              <th scope="col">{t('interviews.wecom')}</th>
            </tr>
          </thead>
          <tbody>
            {participants.map((p) => (
              <tr key={p.platformUserId}>
                <td>{p.platformUserId}</td>
                <td>{p.role}</td>
                <td>
                  <Badge value={p.rsvp} />{' '}
                  {p.respondedAt && <span className="muted small">{time(p.respondedAt)}</span>}
                </td>
                <td>{t(`people.wecom.${p.wecom}` as MessageKey)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card" aria-labelledby="reminders-title">
        <h2 id="reminders-title">{t('interviews.reminders')}</h2>
        <table>
          <caption className="visually-hidden">{t('interviews.reminders')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('interviews.lead')}</th>
              <th scope="col">{t('interviews.due')}</th>
              <th scope="col">{t('interviews.state')}</th>
            </tr>
          </thead>
          <tbody>
            {reminders.length === 0 && (
              <tr>
                <td colSpan={3} className="muted">
                  {t('common.none')}
                </td>
              </tr>
            )}
            {reminders.map((r) => (
              <tr key={r.id}>
                <td>
                  {t(r.kind === 'feedback' ? 'interviews.leadAfter' : 'interviews.leadBefore', {
                    minutes: r.leadMinutes,
                  })}
                </td>
                <td>{time(r.dueAt)}</td>
                <td>
                  <Badge value={r.state} />{' '}
                  {r.messageId && <Link to={`/messages/${r.messageId}`}>{t('messages.open')}</Link>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card" aria-labelledby="imessages-title">
        <h2 id="imessages-title">{t('interviews.messages')}</h2>
        <ProblemMessage error={messages.error} />
        <table>
          <caption className="visually-hidden">{t('interviews.messages')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('messages.created')}</th>
              <th scope="col">{t('messages.kind')}</th>
              <th scope="col">{t('messages.status')}</th>
            </tr>
          </thead>
          <tbody>
            {(messages.data ?? []).map((m) => (
              <tr key={m.id} data-message={m.id}>
                <td>
                  <Link to={`/messages/${m.id}`}>{time(m.createdAt)}</Link>
                </td>
                <td>{m.kind}</td>
                <td>
                  <Badge value={m.status} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}
