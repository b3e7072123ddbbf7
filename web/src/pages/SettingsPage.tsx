import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';

import { api, call, type Schemas } from '../api';
import { describedBy, Field, fieldError, Loading, Notice, ProblemMessage } from '../components';
import { useI18n } from '../i18n';

type Config = Schemas['AdminConfigViewDto'];

export function SettingsPage() {
  const { t } = useI18n();
  const config = useQuery({
    queryKey: ['config'],
    queryFn: () => call(api.GET('/api/admin/config')),
  });
  return (
    <>
      <h1>{t('settings.title')}</h1>
      {config.isPending && <Loading />}
      <ProblemMessage error={config.error} />
      {config.data && <SettingsForm config={config.data} />}
    </>
  );
}

function SettingsForm({ config }: { config: Config }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [leadTimes, setLeadTimes] = useState(config.reminderLeadTimesMin.join(', '));
  const [quietOn, setQuietOn] = useState(config.quietHours !== null);
  const [quietStart, setQuietStart] = useState(config.quietHours?.start ?? '22:00');
  const [quietEnd, setQuietEnd] = useState(config.quietHours?.end ?? '08:00');
  const [language, setLanguage] = useState(config.defaultLanguage);
  const [nudgeOn, setNudgeOn] = useState(config.feedbackNudgeEnabled);
  const [nudgeMin, setNudgeMin] = useState(String(config.feedbackNudgeMin || 30));
  const [localError, setLocalError] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (body: Schemas['PatchAdminConfigDto']) =>
      call(api.PATCH('/api/admin/config', { body })),
    onSuccess: (data) => {
      client.setQueryData(['config'], data);
      void client.invalidateQueries({ queryKey: ['audit'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parts = leadTimes
      .split(/[,，\s]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    if (!parts.every((p) => /^\d+$/.test(p))) {
      setLocalError(t('settings.notNumbers'));
      return;
    }
    setLocalError(null);
    save.mutate({
      reminderLeadTimesMin: parts.map(Number),
      quietHours: quietOn ? { start: quietStart, end: quietEnd } : null,
      defaultLanguage: language,
      feedbackNudgeMin: nudgeOn ? Number(nudgeMin) : 0,
    });
  };
  const leadError = localError ?? fieldError(save.error, 'reminderLeadTimesMin');
  const startError = fieldError(save.error, 'quietHours.start');
  const endError = fieldError(save.error, 'quietHours.end');
  const nudgeError = fieldError(save.error, 'feedbackNudgeMin');
  return (
    <form onSubmit={submit} noValidate className="card settings">
      <fieldset>
        <legend>{t('settings.reminders')}</legend>
        <Field
          id="leadTimes"
          label={t('settings.reminders')}
          help={t('settings.remindersHelp')}
          error={leadError ?? undefined}
        >
          <input
            id="leadTimes"
            value={leadTimes}
            onChange={(e) => setLeadTimes(e.target.value)}
            inputMode="numeric"
            aria-invalid={leadError ? true : undefined}
            aria-describedby={describedBy('leadTimes', 'help', leadError ?? undefined)}
          />
        </Field>
      </fieldset>
      <fieldset>
        <legend>{t('settings.quiet')}</legend>
        <label className="check">
          <input type="checkbox" checked={quietOn} onChange={(e) => setQuietOn(e.target.checked)} />
          {t('settings.quietOn')}
        </label>
        <div className="inline-fields">
          <Field id="quietStart" label={t('settings.quietStart')} error={startError}>
            <input
              id="quietStart"
              type="time"
              value={quietStart}
              disabled={!quietOn}
              onChange={(e) => setQuietStart(e.target.value)}
              aria-describedby={describedBy('quietStart', undefined, startError)}
            />
          </Field>
          <Field id="quietEnd" label={t('settings.quietEnd')} error={endError}>
            <input
              id="quietEnd"
              type="time"
              value={quietEnd}
              disabled={!quietOn}
              onChange={(e) => setQuietEnd(e.target.value)}
              aria-describedby={describedBy('quietEnd', undefined, endError)}
            />
          </Field>
        </div>
        <p className="muted small">{t('settings.quietHelp')}</p>
      </fieldset>
      <fieldset>
        <legend>{t('settings.language')}</legend>
        <Field id="defaultLanguage" label={t('settings.language')}>
          <select
            id="defaultLanguage"
            value={language}
            onChange={(e) => setLanguage(e.target.value as 'zh' | 'en')}
          >
            <option value="zh">中文</option>
            <option value="en">English</option>
          </select>
        </Field>
      </fieldset>
      <fieldset>
        <legend>{t('settings.nudge')}</legend>
        <label className="check">
          <input type="checkbox" checked={nudgeOn} onChange={(e) => setNudgeOn(e.target.checked)} />
          {t('settings.nudgeOn')}
        </label>
        <Field id="nudgeMin" label={t('settings.nudgeMin')} error={nudgeError}>
          <input
            id="nudgeMin"
            inputMode="numeric"
            value={nudgeMin}
            disabled={!nudgeOn}
            onChange={(e) => setNudgeMin(e.target.value)}
            aria-describedby={describedBy('nudgeMin', undefined, nudgeError)}
          />
        </Field>
      </fieldset>
      <ProblemMessage error={save.error} />
      {save.isSuccess && <Notice>{t('common.saved')}</Notice>}
      <button type="submit" className="primary" disabled={save.isPending}>
        {save.isPending ? t('common.saving') : t('common.save')}
      </button>
    </form>
  );
}
