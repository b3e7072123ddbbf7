import { useState, type ReactNode } from 'react';

import { ApiError } from './api';
import { useI18n, type Language } from './i18n';

/** An error as a person reads it: the problem's detail, its fields, and the request id. */
export function ProblemMessage({ error }: { error: unknown }) {
  const { t } = useI18n();
  if (!error) return null;
  if (!(error instanceof ApiError)) {
    return (
      <div className="alert error" role="alert">
        {error instanceof Error ? error.message : String(error)}
      </div>
    );
  }
  const { problem } = error;
  if (problem.status === 0) {
    return (
      <div className="alert error" role="alert">
        {t('common.network', { detail: problem.detail })}
      </div>
    );
  }
  return (
    <div className="alert error" role="alert">
      <p>{problem.detail}</p>
      {problem.errors && problem.errors.length > 1 && (
        <ul>
          {problem.errors.map((e) => (
            <li key={e.field + e.message}>{e.message}</li>
          ))}
        </ul>
      )}
      {problem.requestId && (
        <p className="muted small">{t('common.requestId', { id: problem.requestId })}</p>
      )}
    </div>
  );
}

/** The message for one field of a validation problem, if the error has one. */
export function fieldError(error: unknown, field: string): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  return error.problem.errors?.find((e) => e.field === field)?.message;
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <div className="alert ok" role="status">
      {children}
    </div>
  );
}

export function Loading() {
  const { t } = useI18n();
  return (
    <p className="muted" role="status">
      {t('common.loading')}
    </p>
  );
}

const TONES: Record<string, string> = {
  delivered: 'good',
  sent: 'good',
  active: 'good',
  ok: 'good',
  accepted: 'good',
  applied: 'good',
  scheduled: 'info',
  queued: 'info',
  sending: 'info',
  pending: 'info',
  rate_limited: 'warn',
  partially_sent: 'warn',
  disabled: 'warn',
  unknown: 'info',
  recalled: 'muted',
  skipped: 'muted',
  canceled: 'muted',
  completed: 'muted',
  missed: 'warn',
};

/** A status as a word with a colour that is never the only cue (the word is always there). */
export function Badge({ value }: { value: string }) {
  return <span className={`badge ${TONES[value] ?? 'bad'}`}>{value.replace(/_/g, ' ')}</span>;
}

export function Pager({
  next,
  onNext,
  onFirst,
  atFirst,
}: {
  next: string | null | undefined;
  onNext: (cursor: string) => void;
  onFirst: () => void;
  atFirst: boolean;
}) {
  const { t } = useI18n();
  return (
    <div className="pager">
      <button type="button" onClick={onFirst} disabled={atFirst}>
        {t('common.first')}
      </button>
      <button type="button" onClick={() => next && onNext(next)} disabled={!next}>
        {t('common.next')}
      </button>
    </div>
  );
}

export function CopyButton({ value, label }: { value: string; label: string }) {
  const { t } = useI18n();
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="small"
      aria-label={`${t('common.copy')}: ${label}`}
      onClick={() => {
        void navigator.clipboard?.writeText(value).then(() => setCopied(true));
      }}
    >
      {copied ? t('common.copied') : t('common.copy')}
    </button>
  );
}

/** A labelled form field; the error is tied to the input for screen readers. */
export function Field({
  id,
  label,
  error,
  help,
  children,
}: {
  id: string;
  label: string;
  error?: string;
  help?: string;
  children: ReactNode;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {help && (
        <p className="muted small" id={`${id}-help`}>
          {help}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** aria-describedby for a Field's input. */
export function describedBy(id: string, help?: string, error?: string): string | undefined {
  const ids = [help ? `${id}-help` : '', error ? `${id}-error` : ''].filter(Boolean);
  return ids.length ? ids.join(' ') : undefined;
}

export function minutesAndHours(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${s} s`;
  return `${s} s`;
}

export function LanguageSwitch() {
  const { language, setLanguage, t } = useI18n();
  return (
    <label className="language">
      <span className="visually-hidden">{t('app.language')}</span>
      <select
        value={language}
        onChange={(e) => setLanguage(e.target.value as Language)}
        aria-label={t('app.language')}
      >
        <option value="zh-CN" lang="zh-CN">
          中文
        </option>
        <option value="en" lang="en">
          English
        </option>
      </select>
    </label>
  );
}
