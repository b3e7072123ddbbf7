import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState, type ReactNode } from 'react';

import { api, call } from './api';
import { LanguageSwitch, Loading, ProblemMessage } from './components';
import { useI18n, type MessageKey } from './i18n';
import { AuditPage } from './pages/AuditPage';
import { ConnectionPage } from './pages/ConnectionPage';
import { InterviewPage, InterviewsPage } from './pages/InterviewsPage';
import { MessagePage, MessagesPage } from './pages/MessagesPage';
import { PeoplePage } from './pages/PeoplePage';
import { SettingsPage } from './pages/SettingsPage';
import { SignInPage } from './pages/SignInPage';
import { Link, match, usePath } from './router';
import { currentToken, onSessionChange, signOut } from './session';

const SECTIONS: { path: string; label: MessageKey }[] = [
  { path: '/connection', label: 'nav.connection' },
  { path: '/people', label: 'nav.people' },
  { path: '/messages', label: 'nav.messages' },
  { path: '/interviews', label: 'nav.interviews' },
  { path: '/settings', label: 'nav.settings' },
  { path: '/audit', label: 'nav.audit' },
];

function useSignedIn(): boolean {
  const [signedIn, setSignedIn] = useState(() => currentToken() !== undefined);
  useEffect(() => onSessionChange(() => setSignedIn(currentToken() !== undefined)), []);
  return signedIn;
}

export function App() {
  const signedIn = useSignedIn();
  const path = usePath();
  if (!signedIn) return <SignInPage path={path} />;
  return <SignedIn path={path} />;
}

function SignedIn({ path }: { path: string }) {
  const me = useQuery({ queryKey: ['me'], queryFn: () => call(api.GET('/api/me')) });
  const health = useQuery({ queryKey: ['health'], queryFn: () => call(api.GET('/health')) });
  useEffect(() => {
    if (path === '/') history.replaceState(null, '', '/admin/connection');
  }, [path]);
  if (me.isPending) return <Loading />;
  if (me.isError) return <ProblemMessage error={me.error} />;
  if (!me.data.roles.includes('admin')) return <SignInPage path={path} notAdmin={me.data.id} />;
  const shown = path === '/' ? '/connection' : path;
  return (
    <Layout
      path={shown}
      user={me.data.id}
      // The organisation the session is in (the token's `org`): every page shows its data only.
      organization={me.data.organization.name}
      sandbox={health.data?.wecom.sandbox ?? false}
    >
      <Page path={shown} />
    </Layout>
  );
}

function Page({ path }: { path: string }) {
  let params;
  if (path === '/connection') return <ConnectionPage />;
  if (path === '/people') return <PeoplePage />;
  if (path === '/messages') return <MessagesPage />;
  if ((params = match('/messages/:id', path))) return <MessagePage id={params.id!} />;
  if (path === '/interviews') return <InterviewsPage />;
  if ((params = match('/interviews/:id', path))) return <InterviewPage id={params.id!} />;
  if (path === '/settings') return <SettingsPage />;
  if (path === '/audit') return <AuditPage />;
  return <NotFound />;
}

function NotFound() {
  const { t } = useI18n();
  return (
    <>
      <h1>404</h1>
      <p>
        <Link to="/connection">{t('nav.connection')}</Link>
      </p>
    </>
  );
}

function Layout({
  path,
  user,
  organization,
  sandbox,
  children,
}: {
  path: string;
  user: string;
  organization?: string;
  sandbox: boolean;
  children: ReactNode;
}) {
  const { t } = useI18n();
  const main = useRef<HTMLElement>(null);
  // A new page: move focus to it, as a page load would, so keyboard and screen reader users
  // start from its heading.
  useEffect(() => {
    main.current?.focus();
  }, [path]);
  return (
    <div className="shell">
      <a className="skip" href="#main">
        {t('app.skip')}
      </a>
      <header className="top">
        <span className="brand">{t('app.title')}</span>
        {organization !== undefined && (
          <span className="organization" aria-label={t('app.organization')}>
            {organization}
          </span>
        )}
        {sandbox && <span className="badge warn">{t('app.sandbox')}</span>}
        <span className="spacer" />
        <span className="muted small">{t('app.signedInAs', { id: user })}</span>
        <LanguageSwitch />
        <button type="button" onClick={signOut}>
          {t('app.signOut')}
        </button>
      </header>
      <nav aria-label={t('app.nav')} className="side">
        <ul>
          {SECTIONS.map((s) => (
            <li key={s.path}>
              <Link
                to={s.path}
                aria-current={path === s.path || path.startsWith(`${s.path}/`) ? 'page' : undefined}
              >
                {t(s.label)}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" ref={main} tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
