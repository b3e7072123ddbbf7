import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';

import { api, call } from '../api';
import { Badge, Loading, Pager, ProblemMessage } from '../components';
import { useI18n } from '../i18n';

export function AuditPage() {
  const { t, time } = useI18n();
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const audit = useQuery({
    queryKey: ['audit', cursor],
    queryFn: () =>
      call(
        api.GET('/api/admin/audit', {
          params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  return (
    <>
      <h1>{t('audit.title')}</h1>
      <p className="muted">{t('audit.intro')}</p>
      <ProblemMessage error={audit.error} />
      {audit.isPending ? (
        <Loading />
      ) : (
        audit.data && (
          <section className="card" aria-label={t('audit.title')}>
            <table>
              <caption className="visually-hidden">{t('audit.title')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('audit.at')}</th>
                  <th scope="col">{t('audit.actor')}</th>
                  <th scope="col">{t('audit.action')}</th>
                  <th scope="col">{t('audit.fields')}</th>
                  <th scope="col">{t('audit.outcome')}</th>
                  <th scope="col">{t('audit.detail')}</th>
                  <th scope="col">{t('audit.version')}</th>
                </tr>
              </thead>
              <tbody>
                {audit.data.items.length === 0 && (
                  <tr>
                    <td colSpan={7} className="muted">
                      {t('common.none')}
                    </td>
                  </tr>
                )}
                {audit.data.items.map((a) => (
                  <tr key={a.id}>
                    <td>{time(a.at)}</td>
                    <td>{a.actor}</td>
                    <td>{a.action}</td>
                    <td>{a.fields.join(', ')}</td>
                    <td>
                      <Badge value={a.outcome} />
                    </td>
                    <td className="small">
                      {a.detail}
                      {a.requestId && (
                        <div className="muted">{t('common.requestId', { id: a.requestId })}</div>
                      )}
                    </td>
                    <td>{a.version ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager
              next={audit.data.nextCursor}
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
