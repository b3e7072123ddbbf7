import { type ArgumentMetadata, ValidationPipe } from '@nestjs/common';

import { PatchAdminConfigDto, UpdateAdminConfigDto } from '../admin/dto/admin-config.dto.js';
import { CreateInterviewDto } from '../interviews/dto/create-interview.dto.js';
import { ListMessagesQueryDto, SendMessageDto } from '../messaging/dto/send-message.dto.js';
import { type FieldError, ProblemType } from './problem-details.js';
import {
  MAX_FIELD_ERRORS,
  ValidationProblemException,
  validationProblem,
} from './validation-problem.js';

describe(validationProblem.name, () => {
  // The options of the app's global pipe (app.setup.ts).
  const pipe = new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: false,
    exceptionFactory: validationProblem,
  });

  async function refusal(
    metatype: ArgumentMetadata['metatype'],
    value: unknown,
    type: 'body' | 'query' = 'body',
  ): Promise<{ detail: string; errors: FieldError[] }> {
    try {
      await pipe.transform(value, { type, metatype });
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationProblemException);
      const body = (error as ValidationProblemException).getResponse() as {
        type: string;
        message: string;
        errors: FieldError[];
      };
      expect(body.type).toBe(ProblemType.validation);
      return { detail: body.message, errors: body.errors };
    }
    throw new Error('not refused');
  }

  const validConfig = {
    corpId: 'ww1',
    agentId: 1000002,
    reminderLeadTimesMin: [15],
    feedbackNudgeMin: 30,
    quietHours: null,
    defaultLanguage: 'zh',
  };

  it('names a nested field by its whole path once', async () => {
    const { errors, detail } = await refusal(UpdateAdminConfigDto, {
      ...validConfig,
      quietHours: { start: '25:00', end: '08:00' },
    });
    expect(errors).toEqual([
      { field: 'quietHours.start', message: 'quietHours.start must be HH:MM (00:00 to 23:59)' },
    ]);
    expect(detail).toBe('quietHours.start must be HH:MM (00:00 to 23:59)');
  });

  it('rewrites a message that names only the property to the whole path', async () => {
    const { errors } = await refusal(UpdateAdminConfigDto, {
      ...validConfig,
      quietHours: { start: 2200, end: '08:00', extra: 1 },
    });
    expect(errors).toEqual([
      { field: 'quietHours.extra', message: 'quietHours.extra is not a field of this request' },
      { field: 'quietHours.start', message: 'quietHours.start must be a string' },
    ]);
  });

  it('names the expected type, once, when the type is wrong', async () => {
    const { errors, detail } = await refusal(PatchAdminConfigDto, {
      reminderLeadTimesMin: 'abc',
      feedbackNudgeMin: 'soon',
      quietHours: 'never',
    });
    expect(errors).toEqual([
      {
        field: 'reminderLeadTimesMin',
        message: 'reminderLeadTimesMin must be an array of integers',
      },
      {
        field: 'feedbackNudgeMin',
        message: 'feedbackNudgeMin must be an integer between 0 and 10080',
      },
      { field: 'quietHours', message: 'quietHours must be { start, end } or null' },
    ]);
    expect(detail).toBe('3 fields are invalid: reminderLeadTimesMin, feedbackNudgeMin, quietHours');
  });

  it('says nothing of optional fields left out, and "is required" of required ones', async () => {
    const { errors } = await refusal(CreateInterviewDto, {
      title: 'x',
      candidate: { name: 'A' },
      startsAt: '2030-01-01T10:00:00Z',
      durationMinutes: 60,
    });
    expect(errors).toEqual([
      { field: 'roomUrl', message: 'roomUrl is required' },
      { field: 'interviewers', message: 'interviewers is required' },
    ]);
  });

  it('indexes array items as a client writes them', async () => {
    const { errors } = await refusal(SendMessageDto, {
      to: [{ wecomUserId: 'ok' }, { platformUserId: 'no spaces' }, 'x'],
      msgtype: 'text',
      text: { content: 'hi' },
    });
    expect(errors).toEqual([
      {
        field: 'to[1].platformUserId',
        message: 'to[1].platformUserId must be 1-128 letters, digits or _.:@-',
      },
      { field: 'to[2]', message: 'to[2] must be an object' },
    ]);
  });

  it('gives query parameters one message each', async () => {
    const { errors } = await refusal(
      ListMessagesQueryDto,
      { limit: 'abc', since: 'yesterday' },
      'query',
    );
    expect(errors).toEqual([
      {
        field: 'since',
        message:
          'since must be one ISO 8601 time between the years 1970 and 9999, e.g. 2026-11-24T10:00:00+08:00',
      },
      { field: 'limit', message: 'limit must be an integer between 1 and 200' },
    ]);
  });

  it('never lists the same problem twice, and at most MAX_FIELD_ERRORS', () => {
    const same = { field: 'a', message: 'a must be b' };
    expect(new ValidationProblemException([same, same]).fieldErrors).toEqual([same]);
    const many = Array.from({ length: 120 }, (_, i) => ({
      field: `to[${i}]`,
      message: `to[${i}] must be an object`,
    }));
    const sut = new ValidationProblemException(many);
    expect(sut.fieldErrors).toHaveLength(MAX_FIELD_ERRORS);
    expect(sut.message).toMatch(/^120 fields are invalid: to\[0\], .*, …/);
  });

  it('reads the field from messages that start with it', () => {
    expect(
      ValidationProblemException.fromMessages([
        'news.articles[0].url must be an http(s) URL',
        'give exactly one of them',
      ]).fieldErrors,
    ).toEqual([
      { field: 'news.articles[0].url', message: 'news.articles[0].url must be an http(s) URL' },
      { field: 'give', message: 'give exactly one of them' },
    ]);
  });
});
