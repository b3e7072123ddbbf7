import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';

import { api, call } from '../api';
import { describedBy, Field, LanguageSwitch } from '../components';
import { useI18n } from '../i18n';
import {
  DEFAULT_ORGANIZATION,
  initialOrganization,
  rememberOrganization,
  signInUrl,
  signOut,
  SLUG,
} from '../session';

/** The simulator member the sandbox's one-click sign-in uses (src/sign-in/console-sign-in.ts). */
const SANDBOX_ADMIN = 'sandbox-admin';

export function SignInPage({ path, notAdmin }: { path: string; notAdmin?: string }) {
  const { t } = useI18n();
  // /health is public: it says whether WeCom is the simulator, i.e. whether the sandbox
  // sign-in exists (outside sandbox mode the service refuses it).
  const health = useQuery({ queryKey: ['health'], queryFn: () => call(api.GET('/health')) });
  const sandbox = health.data?.wecom.sandbox === true;
  const back = path === '/' ? '/connection' : path;
  const [organization, setOrganization] = useState(initialOrganization);
  const [invalid, setInvalid] = useState(false);
  const slug = organization.trim().toLowerCase();
  // The sandbox admin is a member of the sandbox's corp, i.e. of `default`'s WeCom app.
  const sandboxHere = sandbox && slug === DEFAULT_ORGANIZATION;
  const start = (e: FormEvent) => {
    e.preventDefault();
    if (!SLUG.test(slug)) {
      setInvalid(true);
      return;
    }
    rememberOrganization(slug);
    window.location.assign(signInUrl(back, slug));
  };
  const orgError = invalid ? t('signin.orgInvalid') : undefined;
  return (
    <div className="signin">
      <header className="top">
        <span className="brand">{t('app.title')}</span>
        <span className="spacer" />
        <LanguageSwitch />
      </header>
      <main id="main" className="signin-card">
        <h1>{t('signin.title')}</h1>
        {notAdmin ? (
          <>
            <div className="alert error" role="alert">
              {t('signin.notAdmin', { id: notAdmin })}
            </div>
            <button type="button" onClick={signOut}>
              {t('app.signOut')}
            </button>
          </>
        ) : (
          <>
            <p>{t('signin.intro')}</p>
            <form onSubmit={start} noValidate>
              <Field
                id="signin-org"
                label={t('signin.org')}
                help={t('signin.orgHint')}
                error={orgError}
              >
                <input
                  id="signin-org"
                  value={organization}
                  onChange={(e) => {
                    setOrganization(e.target.value);
                    setInvalid(false);
                  }}
                  autoCapitalize="none"
                  autoComplete="organization"
                  spellCheck={false}
                  required
                  aria-invalid={invalid || undefined}
                  aria-describedby={describedBy('signin-org', t('signin.orgHint'), orgError)}
                />
              </Field>
              <p>
                <button type="submit" className="primary">
                  {t('signin.wecom')}
                </button>
              </p>
            </form>
            {sandboxHere && (
              <section className="sandbox" aria-labelledby="sandbox-title">
                <h2 id="sandbox-title">{t('signin.sandboxTitle')}</h2>
                <p>{t('signin.sandboxText')}</p>
                <p>
                  <a className="button" href={signInUrl(back, DEFAULT_ORGANIZATION, SANDBOX_ADMIN)}>
                    {t('signin.sandbox')}
                  </a>
                </p>
              </section>
            )}
          </>
        )}
      </main>
    </div>
  );
}
