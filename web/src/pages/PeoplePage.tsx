import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRef, useState, type FormEvent } from 'react';

import { api, ApiError, call, type Schemas } from '../api';
import {
  Badge,
  describedBy,
  Field,
  fieldError,
  Loading,
  Notice,
  Pager,
  ProblemMessage,
} from '../components';
import { useI18n, type MessageKey } from '../i18n';
import { Link } from '../router';

type Mapping = Schemas['UserMappingDto'];
type Status = 'active' | 'disabled' | 'left';
const UNREACHED_DAYS = 30;

export function PeoplePage() {
  const { t } = useI18n();
  const [prefill, setPrefill] = useState<{ id: string; n: number } | null>(null);
  return (
    <>
      <h1>{t('people.title')}</h1>
      <Unreached onMap={(id) => setPrefill((p) => ({ id, n: (p?.n ?? 0) + 1 }))} />
      <MapForm
        key={prefill ? `${prefill.id}-${prefill.n}` : 'empty'}
        platformUserId={prefill?.id}
      />
      <Mappings />
    </>
  );
}

function Mappings() {
  const { t, time } = useI18n();
  const client = useQueryClient();
  const [value, setValue] = useState('');
  const [status, setStatus] = useState<Status | ''>('');
  const [filter, setFilter] = useState<{ q: string; status: Status | '' }>({ q: '', status: '' });
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const list = useQuery({
    queryKey: ['mappings', filter, cursor],
    queryFn: () =>
      call(
        api.GET('/api/user-mappings', {
          params: {
            query: {
              limit: 20,
              ...(cursor ? { cursor } : {}),
              ...(filter.q ? { q: filter.q } : {}),
              ...(filter.status ? { status: filter.status } : {}),
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  const [confirming, setConfirming] = useState<string | null>(null);
  const unmap = useMutation({
    mutationFn: (m: Mapping) =>
      call(api.DELETE('/api/user-mappings/{id}', { params: { path: { id: m.id } } })).then(() => m),
    onSuccess: () => {
      setConfirming(null);
      void client.invalidateQueries({ queryKey: ['mappings'] });
      void client.invalidateQueries({ queryKey: ['unreached'] });
    },
  });
  const search = (e: FormEvent) => {
    e.preventDefault();
    setCursors([]);
    setFilter({ q: value.trim(), status });
  };
  return (
    <section aria-labelledby="mappings-title" className="card">
      <h2 id="mappings-title">{t('people.mappings')}</h2>
      <form className="filters" onSubmit={search} role="search" aria-label={t('people.search')}>
        <Field
          id="search-value"
          label={t('people.searchValue')}
          help={t('people.searchHelp')}
          error={fieldError(list.error, 'q')}
        >
          <input
            id="search-value"
            type="search"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            autoCapitalize="none"
            spellCheck={false}
            aria-describedby={describedBy(
              'search-value',
              t('people.searchHelp'),
              fieldError(list.error, 'q'),
            )}
          />
        </Field>
        <Field id="search-status" label={t('people.status')}>
          <select
            id="search-status"
            value={status}
            onChange={(e) => setStatus(e.target.value as Status | '')}
          >
            <option value="">{t('common.any')}</option>
            <option value="active">active</option>
            <option value="disabled">disabled</option>
            <option value="left">left</option>
          </select>
        </Field>
        <button type="submit">{t('people.search')}</button>
      </form>
      <ProblemMessage error={list.error} />
      {unmap.isSuccess && (
        <Notice>{t('people.unmapped', { id: unmap.data.platformUserId })}</Notice>
      )}
      <ProblemMessage error={unmap.error} />
      {list.isPending ? (
        <Loading />
      ) : (
        list.data && (
          <>
            <table>
              <caption className="visually-hidden">{t('people.mappings')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('people.platformUserId')}</th>
                  <th scope="col">{t('people.wecomUserId')}</th>
                  <th scope="col">{t('people.status')}</th>
                  <th scope="col">{t('people.source')}</th>
                  <th scope="col">{t('people.language')}</th>
                  <th scope="col">{t('people.created')}</th>
                  <th scope="col">
                    <span className="visually-hidden">{t('people.unmap')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.length === 0 && (
                  <tr>
                    <td colSpan={7} className="muted">
                      {t('common.none')}
                    </td>
                  </tr>
                )}
                {list.data.items.map((m) => (
                  <tr key={m.id}>
                    <td>{m.platformUserId}</td>
                    <td>{m.wecomUserId}</td>
                    <td>
                      <Badge value={m.status} />
                    </td>
                    <td>{m.source}</td>
                    <td>{m.language}</td>
                    <td>
                      {time(m.createdAt)}
                      {m.createdBy && <span className="muted small"> · {m.createdBy}</span>}
                    </td>
                    <td>
                      {confirming === m.id ? (
                        <button
                          type="button"
                          className="danger small"
                          onClick={() => unmap.mutate(m)}
                          disabled={unmap.isPending}
                        >
                          {t('people.confirmUnmap', { id: m.platformUserId })}
                        </button>
                      ) : (
                        <button
                          type="button"
                          className="small"
                          onClick={() => setConfirming(m.id)}
                          aria-label={`${t('people.unmap')} ${m.platformUserId}`}
                        >
                          {t('people.unmap')}
                        </button>
                      )}
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
          </>
        )
      )}
    </section>
  );
}

type LookupBy = 'wecomUserId' | 'mobile' | 'email';

function MapForm({ platformUserId: initial }: { platformUserId?: string }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [platformUserId, setPlatformUserId] = useState(initial ?? '');
  const [by, setBy] = useState<LookupBy>('wecomUserId');
  const [value, setValue] = useState('');
  const [language, setLanguage] = useState<'zh' | 'en'>('zh');
  const first = useRef<HTMLInputElement>(null);
  const create = useMutation({
    mutationFn: () =>
      call(
        api.POST('/api/user-mappings', {
          body: { platformUserId: platformUserId.trim(), [by]: value.trim(), language },
        }),
      ),
    onSuccess: () => {
      setPlatformUserId('');
      setValue('');
      void client.invalidateQueries({ queryKey: ['mappings'] });
      void client.invalidateQueries({ queryKey: ['unreached'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  const holder =
    create.error instanceof ApiError && create.error.problem.holder
      ? JSON.stringify(create.error.problem.holder)
      : null;
  const valueError = fieldError(create.error, by) ?? fieldError(create.error, '');
  return (
    <section aria-labelledby="map-title" className="card">
      <h2 id="map-title">{t('people.map')}</h2>
      <p className="muted">{t('people.mapIntro')}</p>
      <form onSubmit={submit} className="filters" noValidate>
        <Field
          id="map-platform"
          label={t('people.platformUserId')}
          error={fieldError(create.error, 'platformUserId')}
        >
          <input
            id="map-platform"
            ref={first}
            autoFocus={initial !== undefined}
            value={platformUserId}
            onChange={(e) => setPlatformUserId(e.target.value)}
            required
            aria-describedby={describedBy(
              'map-platform',
              undefined,
              fieldError(create.error, 'platformUserId'),
            )}
          />
        </Field>
        <Field id="map-by" label={t('people.lookupBy')}>
          <select id="map-by" value={by} onChange={(e) => setBy(e.target.value as LookupBy)}>
            {(['wecomUserId', 'mobile', 'email'] as const).map((b) => (
              <option key={b} value={b}>
                {t(`people.by.${b}` as MessageKey)}
              </option>
            ))}
          </select>
        </Field>
        <Field id="map-value" label={t(`people.by.${by}` as MessageKey)} error={valueError}>
          <input
            id="map-value"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            type={by === 'email' ? 'email' : by === 'mobile' ? 'tel' : 'text'}
            required
            aria-describedby={describedBy('map-value', undefined, valueError)}
          />
        </Field>
        <Field id="map-language" label={t('people.language')}>
          <select
            id="map-language"
            value={language}
            onChange={(e) => setLanguage(e.target.value as 'zh' | 'en')}
          >
            <option value="zh">中文</option>
            <option value="en">English</option>
          </select>
        </Field>
        <button type="submit" className="primary" disabled={create.isPending}>
          {t('people.mapButton')}
        </button>
      </form>
      <ProblemMessage error={create.error} />
      {holder && <p className="small muted">{t('people.holder', { holder })}</p>}
      {create.isSuccess && (
        <Notice>
          {t('people.mapped', {
            platform: create.data.platformUserId,
            wecom: create.data.wecomUserId,
          })}
        </Notice>
      )}
    </section>
  );
}

function Unreached({ onMap }: { onMap: (platformUserId: string) => void }) {
  const { t, time } = useI18n();
  const list = useQuery({
    queryKey: ['unreached'],
    queryFn: () =>
      call(
        api.GET('/api/interview-participants/unmapped', {
          params: { query: { days: UNREACHED_DAYS } },
        }),
      ),
  });
  return (
    <section aria-labelledby="unreached-title" className="card">
      <h2 id="unreached-title">{t('people.unreached')}</h2>
      <p className="muted">{t('people.unreachedIntro', { days: UNREACHED_DAYS })}</p>
      <ProblemMessage error={list.error} />
      {list.isPending && <Loading />}
      {list.data && list.data.items.length === 0 && <p>{t('people.unreachedNone')}</p>}
      {list.data && list.data.items.length > 0 && (
        <table>
          <caption className="visually-hidden">{t('people.unreached')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('people.platformUserId')}</th>
              <th scope="col">{t('interviews.wecom')}</th>
              <th scope="col">{t('people.interviewCount')}</th>
              <th scope="col">{t('people.nextInterview')}</th>
              <th scope="col">
                <span className="visually-hidden">{t('people.mapButton')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.data.items.map((p) => (
              <tr key={p.platformUserId}>
                <td>{p.platformUserId}</td>
                <td>{t(`people.wecom.${p.wecom}` as MessageKey)}</td>
                <td>{p.interviewCount}</td>
                <td>
                  <Link to={`/interviews/${p.interviewId}`}>{p.title}</Link>{' '}
                  <span className="muted small">
                    {time(p.startsAt)} · {p.role}
                  </span>
                </td>
                <td>
                  {p.wecom === 'unmapped' && (
                    <button type="button" className="small" onClick={() => onMap(p.platformUserId)}>
                      {t('people.mapThem', { id: p.platformUserId })}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
