import { useQuery } from '@tanstack/react-query';

import { api, call } from '../api';
import { LanguageSwitch } from '../components';
import { useI18n } from '../i18n';
import { signInUrl, signOut } from '../session';

/** The simulator member the sandbox's one-click sign-in uses (src/sign-in/console-sign-in.ts). */
const SANDBOX_ADMIN = 'sandbox-admin';

export function SignInPage({ path, notAdmin }: { path: string; notAdmin?: string }) {
  const { t } = useI18n();
  // /health is public: it says whether WeCom is the simulator, i.e. whether the sandbox
  // sign-in exists (outside sandbox mode the service refuses it).
  const health = useQuery({ queryKey: ['health'], queryFn: () => call(api.GET('/health')) });
  const sandbox = health.data?.wecom.sandbox === true;
  const back = path === '/' ? '/connection' : path;
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
            <p>
              <a className="button primary" href={signInUrl(back)}>
                {t('signin.wecom')}
              </a>
            </p>
            {sandbox && (
              <section className="sandbox" aria-labelledby="sandbox-title">
                <h2 id="sandbox-title">{t('signin.sandboxTitle')}</h2>
                <p>{t('signin.sandboxText')}</p>
                <p>
                  <a className="button" href={signInUrl(back, SANDBOX_ADMIN)}>
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
